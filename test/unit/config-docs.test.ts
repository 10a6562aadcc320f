import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadConfigFile } from '../../client/config-file.js';
import {
  CONFIG_DOCS,
  documentedKeys,
  REGENERATE,
  renderConfigDocs,
  undescribedKeys,
} from '../../scripts/config-docs.js';

test('docs/configuration.md is what the schema renders to', async () => {
  const expected = await renderConfigDocs();
  const actual = readFileSync(CONFIG_DOCS, 'utf8');
  assert.ok(
    actual === expected,
    `docs/configuration.md is stale: the config schema changed. Regenerate it with \`${REGENERATE}\` and commit it.`,
  );
});

test('every config key has a .describe() text', () => {
  const missing = undescribedKeys();
  assert.deepEqual(missing, [], `add .describe(...) in core/config.ts for: ${missing.join(', ')}`);
});

/** Leaf key paths of a config value, list items as `[]`: `trainer.lora.r`, `prompts[].kind`. */
function leafPaths(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) {
    const items = value.filter((v) => typeof v === 'object' && v !== null);
    return items.length > 0 ? items.flatMap((v) => leafPaths(v, `${path}[]`)) : [path];
  }
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => leafPaths(v, path ? `${path}.${k}` : k));
  }
  return [path];
}

test('every key of the demo config, defaults filled in, is on the page', () => {
  const config = loadConfigFile('deploy/demo/config.yaml');
  const keys = documentedKeys();
  const missing = [...new Set(leafPaths(config))].filter(
    (path) =>
      !keys.some(
        (k) =>
          k.path === path || (k.shared && (path.startsWith(`${k.path}.`) || path.startsWith(`${k.path}[]`))),
      ),
  );
  assert.deepEqual(missing, []);
  assert.ok(leafPaths(config).length > 40, 'the demo config has its keys');
});
