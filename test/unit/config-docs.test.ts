import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { z } from 'zod';
import { loadConfigFile } from '../../client/config-file.js';
import {
  CONFIG_DOCS,
  documentedKeys,
  keyRows,
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

test('unions, nullable keys and lists of variants are documented key by key', () => {
  const schema = z.strictObject({
    size: z.union([z.string(), z.int().min(1)]).describe('a name or a count'),
    label: z.string().nullable().default(null).describe('shown when set'),
    sources: z
      .array(
        z.discriminatedUnion('kind', [
          z.strictObject({ kind: z.literal('a').describe('first'), path: z.string().describe('where') }),
          z.strictObject({ kind: z.literal('b').describe('second'), path: z.string().describe('where') }),
        ]),
      )
      .describe('inputs'),
  });
  const rows = keyRows(schema).map((r) => [r.path, r.when ?? '', r.type, r.default, r.description ?? '']);
  assert.deepEqual(rows, [
    ['size', '', 'string or integer, ≥ 1', 'required', 'a name or a count'],
    ['label', '', 'string or null', '`null`', 'shown when set'],
    ['sources', '', 'list of objects', 'required', 'inputs'],
    ['sources[].kind', '', '`a`, `b`', 'required', '`a`: first; `b`: second'],
    ['sources[].path', '', 'string', 'required', 'where'],
  ]);
});
