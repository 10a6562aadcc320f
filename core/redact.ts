import { listedSecretNames } from './secrets.js';

/**
 * The one redaction layer: every message that can reach a workflow history (activity failures), the
 * worker log or an artifact passes through here. A server may quote a request back (a 401 page shows
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

/**
 * Replaces only the secret values (as they are now): for artifact rows, whose other text is model output
 * to keep as it is. A writer makes one per file, so that a row costs a few `includes` and no env scan.
 */
export function secretScrubber(env: NodeJS.ProcessEnv = process.env): (text: string) => string {
  const values = secretValues(env);
  return (text) => {
    let out = text;
    for (const value of values) if (out.includes(value)) out = out.replaceAll(value, '[redacted]');
    return out;
  };
}

/** Secret values, URL credentials, credential query parameters and bearer tokens: for messages and logs. */
export function redact(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return secretScrubber(env)(text)
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]*@/gi, '$1[redacted]@')
    .replace(
      /([?&](?:api[_-]?key|key|token|access[_-]?token|auth|secret|password|sig)=)[^&\s"'#]+/gi,
      '$1[redacted]',
    )
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{4,}/g, '$1 [redacted]');
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
