/**
 * Writes docs/configuration.md from RunConfigSchema (core/config.ts): every key path with its type,
 * default, allowed values and `.describe()` text. The schema is the source of truth; this page is its
 * rendering, and test/unit/config-docs.test.ts fails when the committed page differs from it.
 *
 *   npm run docs:config
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { z } from 'zod';
import { EndpointSchema, PromptSourceSchema, RunConfigSchema } from '../core/config.js';

export const CONFIG_DOCS = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
export const REGENERATE = 'npm run docs:config';

/** The subset of JSON Schema that zod's toJSONSchema emits for the config. */
interface Json {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, Json>;
  required?: string[];
  items?: Json;
  oneOf?: Json[];
  anyOf?: Json[];
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  minItems?: number;
  pattern?: string;
  format?: string;
  additionalProperties?: Json | boolean;
  $ref?: string;
}

export interface Row {
  path: string;
  /** The variant of a discriminated union the key belongs to, e.g. `backend: ray`. */
  when?: string;
  type: string;
  default: string;
  description?: string;
}

const toJson = (schema: z.ZodType): Json =>
  z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;

/** Shared shapes, documented once in their own section and linked from every use. */
const NAMED = [
  { title: 'Endpoint', anchor: 'endpoint', schema: toJson(EndpointSchema) },
  { title: 'Prompt source', anchor: 'prompt-source', schema: toJson(PromptSourceSchema) },
];

/** A schema's JSON without its annotations, to recognise a named shape wherever it is used. */
const shape = (s: Json): string =>
  JSON.stringify(s, (key, value: unknown) => {
    if (key === 'description' || key === '$schema' || key === '$defs') return undefined;
    // The same shared definition gets a different $defs name in each document.
    return key === '$ref' ? '$ref' : value;
  });
const named = (s: Json) => NAMED.find((n) => shape(n.schema) === shape(s));

const SAFE = Number.MAX_SAFE_INTEGER;
const code = (v: unknown) => `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;

function range(s: Json): string {
  const lo = s.exclusiveMinimum !== undefined ? `> ${s.exclusiveMinimum}` : undefined;
  const min = s.minimum !== undefined && s.minimum > -SAFE ? s.minimum : undefined;
  const max = s.maximum !== undefined && s.maximum < SAFE ? s.maximum : undefined;
  if (lo) return max === undefined ? lo : `${lo}, ≤ ${max}`;
  if (min !== undefined && max !== undefined) return `${min} to ${max}`;
  if (min !== undefined) return `≥ ${min}`;
  if (max !== undefined) return `≤ ${max}`;
  return '';
}

function typeOf(s: Json): string {
  const n = named(s);
  if (n) return `[${n.title.toLowerCase()}](#${n.anchor})`;
  if (s.const !== undefined) return code(s.const);
  if (s.enum) return s.enum.map(code).join(', ');
  if (s.$ref) return 'JSON value';
  const union = s.oneOf ?? s.anyOf;
  if (union) return objectUnion(union) ? 'one of the variants below' : union.map(typeOf).join(' or ');
  if (Array.isArray(s.type)) return s.type.map((type) => typeOf({ ...s, type })).join(' or ');
  const bounds = range(s);
  switch (s.type) {
    case 'integer':
    case 'number':
      return [s.type, bounds].filter(Boolean).join(', ');
    case 'string': {
      if (s.format === 'uri') return 'URL (http or https)';
      const prefix = s.pattern?.match(/^\^\\?(.)\.\*$/)?.[1];
      if (prefix) return `string starting with ${code(prefix)}`;
      if (s.pattern) return `string matching ${code(s.pattern)}`;
      return s.minLength ? 'non-empty string' : 'string';
    }
    case 'array': {
      const item = s.items ? typeOf(s.items) : 'any';
      const objects = item === 'object' || item === 'one of the variants below';
      const list = objects ? 'list of objects' : `list of ${item}`;
      return s.minItems ? `${list} (at least ${s.minItems})` : list;
    }
    case 'object': {
      if (s.properties) return 'object';
      const value = typeof s.additionalProperties === 'object' ? typeOf(s.additionalProperties) : 'any';
      return `map of string to ${value === '' ? 'any' : value}`;
    }
    case 'null':
      return 'null';
    case undefined:
      return 'any';
    default:
      return s.type;
  }
}

function defaultOf(s: Json, required: boolean): string {
  // `.prefault({})`: an absent object is filled with its keys' own defaults.
  if (s.properties && JSON.stringify(s.default) === '{}') return "its keys' defaults";
  if (s.default !== undefined) return code(s.default);
  return required ? 'required' : 'optional';
}

/** A union of objects, documented key by key; a union of plain values is just a type (`string or null`). */
const objectUnion = (variants: Json[] | undefined): boolean => variants?.some((v) => v.properties) ?? false;

/** The key whose `const` tells the variants of a union apart (`kind`, `backend`). */
function discriminator(variants: Json[]): string | undefined {
  const first = variants[0]?.properties ?? {};
  return Object.keys(first).find((key) => variants.every((v) => v.properties?.[key]?.const !== undefined));
}

function walk(s: Json, path: string, required: boolean, rows: Row[], when?: string): void {
  const n = named(s) ?? (s.items && named(s.items));
  const described = s.description ?? s.items?.description;
  const union = s.oneOf ?? s.anyOf ?? (s.items && !n ? (s.items.oneOf ?? s.items.anyOf) : undefined);
  const variants = union && objectUnion(union) ? union : undefined;
  const container = !n && (s.properties || s.items?.properties || variants);
  if (!container || described) {
    rows.push({ path, when, type: typeOf(s), default: defaultOf(s, required), description: described });
  }
  if (n) return;
  const inner = s.items?.properties || objectUnion(s.items?.oneOf ?? s.items?.anyOf) ? `${path}[]` : path;
  const object = s.properties ? s : s.items?.properties ? s.items : undefined;
  if (object) {
    for (const [key, child] of Object.entries(object.properties ?? {})) {
      walk(child, `${inner}.${key}`, object.required?.includes(key) ?? false, rows, when);
    }
  }
  if (variants) walkVariants(variants, inner, rows);
}

/** Keys shared by every variant are listed once; the others name the variants they belong to. */
function walkVariants(variants: Json[], path: string, rows: Row[]): void {
  const key = discriminator(variants);
  if (!key) throw new Error(`${path}: a union without a discriminating key cannot be documented`);
  const labels = variants.map((v) => String(v.properties?.[key]?.const));
  const notes = variants
    .map((v, i) => [labels[i], v.description ?? v.properties?.[key]?.description])
    .filter(([, text]) => text)
    .map(([label, text]) => `\`${label}\`: ${text}`);
  rows.push({
    path: `${path}.${key}`,
    type: labels.map(code).join(', '),
    default: 'required',
    description: notes.length > 0 ? notes.join('; ') : undefined,
  });
  const names = [...new Set(variants.flatMap((v) => Object.keys(v.properties ?? {})))].filter(
    (k) => k !== key,
  );
  for (const name of names) {
    const groups = new Map<string, { schema: Json; required: boolean; labels: string[] }>();
    variants.forEach((v, i) => {
      const child = v.properties?.[name];
      if (!child) return;
      const required = v.required?.includes(name) ?? false;
      const id = `${JSON.stringify(child)}${required}`;
      const group = groups.get(id) ?? { schema: child, required, labels: [] };
      group.labels.push(labels[i]!);
      groups.set(id, group);
    });
    for (const group of groups.values()) {
      const when = group.labels.length === variants.length ? undefined : `${key}: ${group.labels.join(', ')}`;
      walk(group.schema, `${path}.${name}`, group.required, rows, when);
    }
  }
}

function rowsOf(s: Json, prefix = ''): Row[] {
  const rows: Row[] = [];
  const variants = s.oneOf ?? s.anyOf;
  if (variants) walkVariants(variants, prefix, rows);
  for (const [key, child] of Object.entries(s.properties ?? {})) {
    walk(child, prefix ? `${prefix}.${key}` : key, s.required?.includes(key) ?? false, rows);
  }
  return rows.map((r) => ({ ...r, path: r.path.replace(/^\./, '') }));
}

/** The documented rows of any schema: key path, variant, type, default, description. */
export const keyRows = (schema: z.ZodType): Row[] => rowsOf(toJson(schema));

const allRows = () => [...rowsOf(toJson(RunConfigSchema)), ...NAMED.flatMap((n) => rowsOf(n.schema))];

/** Keys without a `.describe()` text: every key needs one (handbook), and this page shows it. */
export function undescribedKeys(): string[] {
  return allRows()
    .filter((r) => !r.description)
    .map((r) => (r.when ? `${r.path} (${r.when})` : r.path));
}

/** The key paths the page documents; a key of a shared shape is documented under the shape's section. */
export function documentedKeys(): { path: string; shared: boolean }[] {
  return rowsOf(toJson(RunConfigSchema)).map((r) => ({ path: r.path, shared: r.type.includes('](#') }));
}

// Text outside code spans: `|` would end the cell, `<name>` would read as an HTML tag.
const cell = (text: string) =>
  text
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/</g, '&lt;')))
    .join('')
    .replace(/\|/g, '\\|');

function table(rows: Row[]): string {
  const lines = rows.map((r) => {
    const key = r.when ? `\`${r.path}\` (${code(r.when)})` : `\`${r.path}\``;
    return `| ${key} | ${cell(r.type)} | ${cell(r.default)} | ${cell(r.description ?? '')} |`;
  });
  return ['| key | type | default | meaning |', '| --- | --- | --- | --- |', ...lines].join('\n');
}

const INTRO = `# Configuration reference

<!-- Generated from RunConfigSchema in core/config.ts by scripts/config-docs.ts: edit the schema's
.describe() texts, then run \`${REGENERATE}\`. -->

A run is one YAML or JSON file, validated by the zod schema in \`core/config.ts\`. That schema is the
single source of truth: the record types are inferred from it, and this page is generated from it.
Every problem is reported with its key path and line, and nothing starts or gets written:

\`\`\`
$ npm run evolve -- run bad.yaml
bad.yaml is invalid:
  sampling.samples (bad.yaml:23): Too small: expected number to be >=1
  sampling.tempreature (bad.yaml:25): unknown key
\`\`\`

\`npm run evolve -- config <file>\` prints the validated config with its defaults filled in. That output
is the exact workflow input. \`deploy/demo/config.yaml\` is a complete example.

In the tables, \`a[]\` is an item of the list \`a\`; a key followed by a condition such as
\`backend: ray\` exists only in that variant. "optional" means the key may be left out and has no
default value.
`;

/** Where each section's keys are explained at length (hand-written: the schema has no place for it). */
const NOTES: Record<string, string> = {
  'Top level':
    "Sharding and the size of an iteration's history: [Performance](performance.md). `evolve run --resume-from` sets `reuseFrom`: [Reusing finished work](operations.md#reusing-finished-work-resets-and---resume-from).",
  '`policy`':
    'How requests are sent: [Inference](inference-and-serving.md#inference); how each checkpoint is served: [Serving checkpoints](inference-and-serving.md#serving-checkpoints).',
  '`sampling`': 'Strategies: [Generation strategies](inference-and-serving.md#generation-strategies).',
  '`refinement`': 'The refinement context c(x, y, z): [method notes](method.md#notation).',
  '`judge`': '[Judges and pairs](judges-and-pairs.md).',
  '`pairing`': '[Judges and pairs](judges-and-pairs.md).',
  '`trainer`': '[Training](training.md): the recipe, the backends and the checkpoint registry.',
  '`evaluation`':
    'Strategies: [Generation strategies](inference-and-serving.md#generation-strategies); `keepBest`: [Serving checkpoints](inference-and-serving.md#serving-checkpoints); `suites`: [Benchmark suites](benchmarks-and-metrics.md#benchmark-suites).',
  Endpoint:
    'Set exactly one of `baseUrl` and `baseUrls`. Load balancing, retries and ejection: [Inference](inference-and-serving.md#inference).',
  'Prompt source':
    'File formats: [Benchmark files](benchmarks-and-metrics.md#benchmark-files). Prompt ids must be unique across the sources of a phase.',
};

export async function renderConfigDocs(): Promise<string> {
  const root = toJson(RunConfigSchema);
  const rows = rowsOf(root);
  const top = Object.keys(root.properties ?? {});
  const sections = new Map<string, Row[]>([['Top level', []]]);
  for (const row of rows) {
    const head = top.find(
      (k) => row.path === k || row.path.startsWith(`${k}.`) || row.path.startsWith(`${k}[]`),
    );
    const nested = head !== undefined && rows.some((r) => r.path.startsWith(`${head}.`));
    const title = nested ? `\`${head}\`` : 'Top level';
    sections.set(title, [...(sections.get(title) ?? []), row]);
  }
  for (const n of NAMED) sections.set(n.title, rowsOf(n.schema));
  const body = [...sections].map(
    ([title, list]) => `## ${title}\n\n${NOTES[title] ? `${NOTES[title]}\n\n` : ''}${table(list)}\n`,
  );
  const markdown = [INTRO, ...body].join('\n');
  const options = await prettier.resolveConfig(CONFIG_DOCS);
  return prettier.format(markdown, { ...options, parser: 'markdown' });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(CONFIG_DOCS, await renderConfigDocs());
  const missing = undescribedKeys();
  console.log(`wrote ${CONFIG_DOCS}`);
  if (missing.length > 0) console.log(`keys without a .describe() text:\n  ${missing.join('\n  ')}`);
}
