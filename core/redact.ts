import { listedSecretNames } from './secrets.js';

/**
 * The one redaction layer: every message that can reach a workflow history (activity failures and
 * results, and through them search attributes and memo), the worker log, an artifact, the report or
 * the CLI's output passes through here. A server may quote a request back (a 401 page shows
 * the Authorization header), a hook may print its environment: the values of the secrets in use are
 * replaced before anything is raised, logged or written.
 */

/** Secrets read from elsewhere than the environment (the Kubernetes service-account token file). */
const registered = new Set<string>();

/** Values shorter than this are not redacted: "1" or "true" would blank out every number. */
const MIN_SECRET_CHARS = 8;

export function registerSecret(value: string): void {
  if (value.length >= MIN_SECRET_CHARS) registered.add(value);
}

/**
 * The worker's own credentials among its reserved variables: the Temporal ones that are secret (an API
 * key, a client key's PEM), not its address, namespace or certificate, which every log line should show.
 */
const WORKER_SECRET = /^(EVOLVE_CODEC_KEY|EVOLVE_CODEC_TOKEN|TEMPORAL_API_KEY|TEMPORAL_TLS_CLIENT_KEY_DATA)$/;

/** Whether a variable may hold a secret in use: any name a config may point at, and the worker's own. */
const holdsSecret = (name: string, listed: string[]) =>
  /(_API_KEY|_TOKEN|_SECRET|_PASSWORD)$/.test(name) || WORKER_SECRET.test(name) || listed.includes(name);

/** The secret values in use, longest first (so a key containing another is replaced whole). */
export function secretValues(env: NodeJS.ProcessEnv = process.env): string[] {
  const listed = listedSecretNames(env);
  const values = Object.entries(env)
    .filter(([name, value]) => value && value.length >= MIN_SECRET_CHARS && holdsSecret(name, listed))
    .map(([, value]) => value!);
  return [...new Set([...values, ...registered])].sort((a, b) => b.length - a.length);
}

const bytesOf = (text: string) => new TextEncoder().encode(text);
const base64Of = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const percentAll = (bytes: Uint8Array) =>
  [...bytes].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');

/**
 * The forms a server or a hook may echo a secret in: as is, URL-encoded (in part or every byte), hex,
 * and base64 or base64url at each of the three alignments it can have inside a longer blob (a Basic
 * header encodes `user:key`). For a base64 form, only the characters that depend on the key alone.
 */
export function secretEncodings(value: string): string[] {
  const bytes = bytesOf(value);
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  const forms = [value, encodeURIComponent(value), percentAll(bytes), percentAll(bytes).toLowerCase(), hex];
  for (let offset = 0; offset < 3; offset++) {
    const padded = new Uint8Array(offset + bytes.length);
    padded.set(bytes, offset);
    const core = base64Of(padded).slice(Math.ceil((8 * offset) / 6), Math.floor((8 * padded.length) / 6));
    forms.push(core, core.replaceAll('+', '-').replaceAll('/', '_'));
  }
  return [...new Set(forms)].filter((form) => form.length >= MIN_SECRET_CHARS);
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * One form split over lines anywhere (a wrapped page, MIME-wrapped base64), by a line break or its JSON
 * escape, with the next line's indent.
 */
const lineSplit = (form: string) =>
  [...form].map(escapeRegExp).join(String.raw`(?:(?:\r?\n|(?:\\r)?\\n)[ \t>]*)?`);

let compiled: { key: string; scrub: (text: string) => string } | null = null;

/**
 * Replaces only the secrets (as they are now), in every form of `secretEncodings`: for artifact rows,
 * whose other text is model output to keep as it is. A row without a line break (or its escape) costs a few `includes`;
 * the pattern for line-split forms runs only on text that has one. Compiled once per set of secrets.
 */
export function secretScrubber(env: NodeJS.ProcessEnv = process.env): (text: string) => string {
  const values = secretValues(env);
  const key = values.join('\0');
  if (compiled?.key === key) return compiled.scrub;
  const forms = [...new Set(values.flatMap(secretEncodings))].sort((a, b) => b.length - a.length);
  const split = forms.length > 0 ? new RegExp(forms.map(lineSplit).join('|'), 'g') : null;
  const scrub = (text: string) => {
    let out = text;
    for (const form of forms) if (out.includes(form)) out = out.replaceAll(form, '[redacted]');
    return split && /[\r\n]|\\[rn]/.test(out) ? out.replace(split, '[redacted]') : out;
  };
  compiled = { key, scrub };
  return scrub;
}

/**
 * Secret values, URL credentials, credential query parameters, credential headers (Authorization,
 * x-api-key, api-key, in any case) and bearer tokens: for messages, logs and heartbeat details.
 */
export function redact(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return secretScrubber(env)(text)
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]*@/gi, '$1[redacted]@')
    .replace(
      /([?&](?:api[_-]?key|key|token|access[_-]?token|auth|secret|password|sig)=)[^&\s"'#]+/gi,
      '$1[redacted]',
    )
    .replace(
      /\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?)(?!(?:[A-Za-z]+\s+)?\[redacted\])([A-Za-z]+\s+)?[^\s"',;]+/gi,
      '$1$2[redacted]',
    )
    .replace(/\b((?:x-)?api[-_]?key["']?\s*[:=]\s*["']?)[^\s"',;&]+/gi, '$1[redacted]')
    .replace(/\b(bearer)\s+(?!\[redacted\])[A-Za-z0-9._~+/=-]{4,}/gi, '$1 [redacted]')
    .replace(/\b(Basic)\s+(?!\[redacted\])[A-Za-z0-9._~+/=-]{4,}/g, '$1 [redacted]');
}

/** `fn` applied to every string in a JSON-like value, keys included. */
function mapStrings(value: unknown, fn: (text: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn));
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [fn(k), mapStrings(v, fn)]));
  return value;
}

/** `redact` applied to every string in a JSON-like value (heartbeat details), keys included. */
export function redactValue(value: unknown, env: NodeJS.ProcessEnv = process.env): unknown {
  return mapStrings(value, (text) => redact(text, env));
}

/**
 * Only the secrets (`secretScrubber`) replaced in every string of a JSON-like value: for activity results,
 * whose other text (a config's templates, a probe's answer) must stay as it is.
 */
export function scrubValue<T>(value: T, env: NodeJS.ProcessEnv = process.env): T {
  return mapStrings(value, secretScrubber(env)) as T;
}

/**
 * Redacts an error in place (message, stack, cause chain), so that it keeps its class, its type and
 * its retry flags: Temporal records the message and the stack of a failed activity in the history.
 */
export function redactError<E>(err: E, env: NodeJS.ProcessEnv = process.env): E {
  const seen = new Set<unknown>();
  for (let e: unknown = err; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    e.message = redact(e.message, env);
    if (e.stack) e.stack = redact(e.stack, env);
  }
  return err;
}
