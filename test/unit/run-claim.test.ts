import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { validateConfig } from '../../activities/prompts.js';
import { ConfigError } from '../../core/config.js';
import { demoConfig } from '../support/config.js';

test('a run id is bound to one config: the same config is accepted again, another is refused', async () => {
  const root = mkdtempSync(join(tmpdir(), 'evolve-claim-'));
  const config = demoConfig({ runId: 'claimed', artifactRoot: root });
  const first = await validateConfig(config);
  assert.deepEqual(readdirSync(join(root, 'claimed')), ['config.json']);
  assert.equal((await validateConfig(config)).configHash, first.configHash, 'a restart with the same config');
  await assert.rejects(
    validateConfig({ ...config, sampling: { ...config.sampling, temperature: 0.1 } }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /run id "claimed" already has artifacts made with another config/.test(err.message),
  );
});

test('an invalid config writes nothing', async () => {
  const root = mkdtempSync(join(tmpdir(), 'evolve-claim-'));
  await assert.rejects(
    validateConfig({ ...demoConfig({ artifactRoot: root }), iterations: -1 }),
    /iterations: Too small/,
  );
  assert.deepEqual(readdirSync(root), []);
});

test("a config changed by the run's own update replaces the claim", async () => {
  const root = mkdtempSync(join(tmpdir(), 'evolve-claim-'));
  const config = demoConfig({ runId: 'amended', artifactRoot: root });
  await validateConfig(config);
  const updated = { ...config, sampling: { ...config.sampling, temperature: 0.1 } };
  const amended = await validateConfig(updated, { amended: true });
  assert.equal(
    (await validateConfig(updated)).configHash,
    amended.configHash,
    'a restart with the new config',
  );
  await assert.rejects(validateConfig(config), /already has artifacts made with another config/);
});

test('a claim written before a key with a default existed still matches the same config', async () => {
  const root = mkdtempSync(join(tmpdir(), 'evolve-claim-'));
  const config = demoConfig({ runId: 'older', artifactRoot: root });
  const first = await validateConfig(config);
  const claim = join(root, 'older', 'config.json');
  const older = JSON.parse(readFileSync(claim, 'utf8')) as Partial<typeof config>;
  delete older.maxShards;
  writeFileSync(claim, JSON.stringify(older));
  assert.equal((await validateConfig(config)).configHash, first.configHash, 'a restart after an upgrade');
});
