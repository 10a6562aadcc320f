import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { temporalConnection } from '../../client/temporal-connection.js';
import { commandFor, stackSettings, writeStackProfile } from '../../deploy/stack.js';

test("the stack's worker connects to the stack's server, whatever Temporal variables or profile the user has", () => {
  // The user's own Temporal CLI profile (a cloud namespace with an API key), and variables naming it too.
  const home = mkdtempSync(join(tmpdir(), 'evolve-home-'));
  mkdirSync(join(home, '.config', 'temporalio'), { recursive: true });
  writeFileSync(
    join(home, '.config', 'temporalio', 'temporal.toml'),
    '[profile.default]\naddress = "ns.acct.tmprl.cloud:7233"\nnamespace = "ns.acct"\napi_key = "profile-key"\n',
  );
  const shell = { HOME: home, XDG_CONFIG_HOME: '', TEMPORAL_API_KEY: 'shell-key', TEMPORAL_TLS: 'true' };
  const saved = Object.fromEntries(Object.keys(shell).map((name) => [name, process.env[name]]));
  Object.assign(process.env, shell);
  try {
    const user = temporalConnection({ address: 'x', namespace: 'x' }, process.env);
    assert.equal(user.address, 'ns.acct.tmprl.cloud:7233', "the CLI follows the user's profile");
    const s = stackSettings({
      EVOLVE_STATE_DIR: mkdtempSync(join(tmpdir(), 'evolve-state-')),
      EVOLVE_TEMPORAL_PORT: '7299',
    });
    writeStackProfile(s);
    const { env } = commandFor(s, 'worker');
    assert.deepEqual(temporalConnection({ address: '127.0.0.1:7233', namespace: 'default' }, env), {
      address: '127.0.0.1:7299',
      namespace: 'default',
    });
  } finally {
    for (const [name, value] of Object.entries(saved))
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
  }
});
