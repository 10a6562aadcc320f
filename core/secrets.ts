/**
 * Trust boundaries of secrets. A config names the variable holding a key (`apiKeyEnv`, `tokenEnv`),
 * never the key: the config is workflow input, so it lands in the history. Whoever writes a config must
 * not be able to read out the worker's environment through it, so only variables the operator allows
 * may be named, and a key goes to a remote host only over https.
 *
 * Pure (no process access): imported by the config schema, which workflows run too.
 */

/** The worker's own credentials: never sent to a model server, whatever EVOLVE_SECRET_ENV says. */
export const RESERVED_SECRET = /^(EVOLVE_CODEC_KEY|EVOLVE_CODEC_TOKEN|TEMPORAL_[A-Z0-9_]*)$/;

/** Names allowed without listing: `*_API_KEY` for model servers; `*KUBE_TOKEN` for the Kubernetes API. */
const NAMING_RULE = { apiKey: /_API_KEY$/, kubeToken: /(_API_KEY|KUBE_TOKEN)$/ } as const;
export type SecretKind = keyof typeof NAMING_RULE;

/** The names listed in EVOLVE_SECRET_ENV (comma-separated). */
export const listedSecretNames = (env: Record<string, string | undefined>): string[] =>
  (env.EVOLVE_SECRET_ENV ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** Why `name` may not be read as a key, or null when it may. Without `env`, only the reserved names are refused. */
export function secretNameProblem(
  name: string,
  kind: SecretKind,
  env?: Record<string, string | undefined>,
): string | null {
  if (RESERVED_SECRET.test(name))
    return `${name} holds the worker's own credentials and is never sent to a server`;
  if (!env || NAMING_RULE[kind].test(name) || listedSecretNames(env).includes(name)) return null;
  const rule = kind === 'apiKey' ? '*_API_KEY' : '*_API_KEY or *KUBE_TOKEN';
  return `${name} is not an allowed key variable: name it ${rule}, or list it in EVOLVE_SECRET_ENV on the worker and client`;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/** Keys travel only over https, or to this machine. */
export const mayCarryKey = (url: string): boolean => {
  const u = new URL(url);
  return u.protocol === 'https:' || LOOPBACK.test(u.hostname);
};

/** Query parameters that carry credentials. */
const CREDENTIAL_PARAM = /^(api[_-]?key|key|token|access[_-]?token|auth|authorization|secret|password|sig)$/i;

/** Why a URL may not be in a config (it is workflow input), or null. */
export function urlCredentialProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null; // the URL rule itself reports it
  }
  if (u.username || u.password)
    return 'credentials in the URL (user:password@) would land in the run history: use apiKeyEnv';
  const param = [...u.searchParams.keys()].find((k) => CREDENTIAL_PARAM.test(k));
  if (param !== undefined)
    return `query parameter "${param}" carries a credential that would land in the run history: use apiKeyEnv`;
  return null;
}

/** Request fields that carry credentials (extraBody keys, at any depth); `stop_token_ids` is not one. */
export const CREDENTIAL_FIELD =
  /^(authori[sz]ation|proxy-authorization|x-api-key|api[_-]?key|(access|auth|bearer|id|refresh)[_-]?token|token|secret|client[_-]?secret|password|cookie|(extra[_-]?)?headers)$/i;

/** Environment variable names that carry credentials (Ray runtimeEnv.env_vars): HF_TOKEN, AWS_SECRET_ACCESS_KEY... */
export const CREDENTIAL_VARIABLE = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$|^AWS_SESSION/i;

/** Key paths under `value` whose object keys match `pattern`. */
export function credentialKeyPaths(
  value: unknown,
  pattern: RegExp,
  path: (string | number)[] = [],
): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => credentialKeyPaths(v, pattern, [...path, i]));
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) =>
      pattern.test(k) ? [[...path, k]] : credentialKeyPaths(v, pattern, [...path, k]),
    );
  return [];
}

/** Key-variable references of a config: every `apiKeyEnv` (model servers) and `tokenEnv` (Kubernetes). */
export function secretRefs(
  value: unknown,
  path: (string | number)[] = [],
): { path: (string | number)[]; name: string; kind: SecretKind }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => secretRefs(v, [...path, i]));
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => {
    if (typeof v === 'string' && (k === 'apiKeyEnv' || k === 'tokenEnv'))
      return [
        {
          path: [...path, k],
          name: v,
          kind: k === 'apiKeyEnv' ? ('apiKey' as const) : ('kubeToken' as const),
        },
      ];
    return secretRefs(v, [...path, k]);
  });
}

/** The allow-list check of every key reference in a config, as (key path, problem). */
export function secretRefIssues(
  config: unknown,
  env: Record<string, string | undefined>,
): { path: (string | number)[]; message: string }[] {
  return secretRefs(config).flatMap(({ path, name, kind }) => {
    const message = secretNameProblem(name, kind, env);
    return message ? [{ path, message }] : [];
  });
}

/**
 * The environment of a child process that is not the worker itself (trainer, restart hook, model and
 * Temporal servers): the worker's own credentials removed. A process the config names cannot read them.
 */
export function childEnv(
  env: Record<string, string | undefined>,
  extra: Record<string, string> = {},
): Record<string, string | undefined> {
  const out = Object.fromEntries(Object.entries(env).filter(([name]) => !RESERVED_SECRET.test(name)));
  return { ...out, ...extra };
}
