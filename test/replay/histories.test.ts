import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { workflowsPath } from '../../workers/worker.js';
import { quietRuntime } from '../support/quiet.js';

// Histories recorded from real runs (`temporal workflow show --output json`): the Temporal CLI test's run
// (an accepted config update, then continue-as-new) and its iteration 1 (reset while paused), replayed
// against today's workflow code: a change that would break a running workflow fails here, and must go
// through patched() (docs/development.md, replay and versioning).
const dir = 'test/fixtures/histories';
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

test('recorded demo histories replay against the current workflow code', async () => {
  quietRuntime();
  assert.ok(files.length >= 2, 'a run history and an iteration history are committed');
  for (const file of files) {
    const history = historyFromJSON(JSON.parse(readFileSync(join(dir, file), 'utf8')));
    // File names are the URL-encoded workflow ids the histories were recorded under.
    await Worker.runReplayHistory(
      { workflowsPath },
      history,
      decodeURIComponent(file.replace(/\.json$/, '')),
    );
  }
});
