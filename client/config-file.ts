import { readFileSync } from 'node:fs';
import { LineCounter, parse, parseDocument, isMap, isSeq, type Node } from 'yaml';
import { ConfigError, describeIssues, keyPath, RunConfigSchema, type RunConfig } from '../core/config.js';
import { secretRefIssues } from '../core/secrets.js';

/** Line of the node at `path`, or of its deepest existing parent. */
function lineOf(
  doc: ReturnType<typeof parseDocument>,
  counter: LineCounter,
  path: PropertyKey[],
): number | null {
  let node: unknown = doc.contents;
  let line: number | null = null;
  for (const key of path) {
    if (!isMap(node) && !isSeq(node)) break;
    const pair = isMap(node)
      ? node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key)
      : undefined;
    const child: unknown = isMap(node) ? pair?.value : (node as { items: unknown[] }).items[Number(key)];
    const keyRange = (pair?.key as Node | undefined)?.range ?? (child as Node | undefined)?.range;
    if (!keyRange) break;
    line = counter.linePos(keyRange[0]).line;
    node = child;
  }
  return line;
}

/** Parses a YAML or JSON file; a syntax error is reported as `file:line`. */
function parseFile(path: string, what: string) {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
  const text = decodeUtf8(bytes, path);
  const counter = new LineCounter();
  if (path.toLowerCase().endsWith('.json')) {
    // A .json file is JSON: YAML would let trailing commas, comments and unquoted keys through.
    try {
      JSON.parse(text);
    } catch (err) {
      const at = /position (\d+)/.exec((err as Error).message)?.[1];
      const line = at === undefined ? 1 : text.slice(0, Number(at)).split('\n').length;
      throw new ConfigError(`${path}:${line}: not valid JSON: ${(err as Error).message}`);
    }
  }
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    throw new ConfigError(
      `${path}:${first.linePos?.[0].line ?? '?'}: not valid YAML/JSON: ${first.message.split('\n')[0]}`,
    );
  }
  return { doc, counter };
}

/** UTF-8 text, or a ConfigError naming the line of the first byte that is not UTF-8. */
function decodeUtf8(bytes: Buffer, path: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const text = bytes.toString('utf8');
    const line = text.slice(0, text.indexOf('\uFFFD')).split('\n').length;
    throw new ConfigError(`${path}:${line}: not UTF-8 text`);
  }
}

/** The document as plain data; an alias bomb (aliases expanding past the yaml limit) names the file. */
function toData(doc: ReturnType<typeof parseDocument>, path: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new ConfigError(`${path}: not accepted: ${(err as Error).message}`);
  }
}

/** The keys to change in a running run's config (checked by the run itself when it receives them). */
export function loadPatchFile(path: string): Record<string, unknown> {
  const value: unknown = toData(parseFile(path, 'config changes').doc, path);
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`${path}: expected a mapping of config keys to change`);
  }
  return value as Record<string, unknown>;
}

/** Keys that would reach Object.prototype instead of a config key. */
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Applies `key.path=value` to a patch; the value is read as YAML, so numbers and booleans keep their type. */
export function setPath(patch: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new ConfigError(`--set ${assignment}: expected key.path=value`);
  const keys = assignment.slice(0, eq).split('.');
  const bad = keys.find((k) => !/^[A-Za-z0-9_-]+$/.test(k) || UNSAFE_KEYS.has(k));
  if (bad !== undefined)
    throw new ConfigError(`--set ${assignment}: "${bad}" is not a config key (letters, digits, "_" and "-")`);
  const value: unknown = parse(assignment.slice(eq + 1));
  let node = patch;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    node = (node[key] = next && typeof next === 'object' && !Array.isArray(next) ? next : {}) as Record<
      string,
      unknown
    >;
  }
  node[keys.at(-1)!] = value;
}

/**
 * Reads a YAML or JSON run config and validates it. Every problem is reported as
 * `key.path (file:line): expected ...`, and nothing is started or written when one exists.
 */
export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): RunConfig {
  const { doc, counter } = parseFile(path, 'config');
  const input: unknown = toData(doc, path);
  const parsed = RunConfigSchema.safeParse(input);
  // The allow-list of key variables depends on this machine's EVOLVE_SECRET_ENV, so it is checked here
  // (and again where a key is read), not by the schema that workflows share.
  const refused = secretRefIssues(input, env);
  if (parsed.success && refused.length === 0) return parsed.data;
  const issues = [...(parsed.success ? [] : describeIssues(parsed.error, input)), ...refused];
  const lines = issues.map(
    (issue) =>
      `  ${keyPath(issue.path)} (${path}:${lineOf(doc, counter, issue.path) ?? 1}): ${issue.message}`,
  );
  throw new ConfigError(`${path} is invalid:\n${lines.join('\n')}`);
}
