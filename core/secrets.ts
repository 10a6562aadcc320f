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
 * What a child process needs to run, by name: paths, locale, temp dir, proxies and CA bundles, and the
 * settings of Python, Hugging Face, PyTorch, CUDA/NCCL, OpenMP/BLAS, Accelerate and DeepSpeed.
 */
const CHILD_ENV_ALLOWED =
  /^(PATH|HOME|USER|LOGNAME|SHELL|PWD|TERM|LANG|LANGUAGE|TZ|TMPDIR|TEMP|TMP|LD_LIBRARY_PATH|VIRTUAL_ENV|LC_\w+|XDG_\w+|CONDA_\w+|PYTHON\w*|HF_\w+|HUGGINGFACE_\w+|TRANSFORMERS_\w+|TOKENIZERS_\w+|TORCH\w*|PYTORCH_\w+|CUDA_\w+|NVIDIA_\w+|NCCL_\w+|OMP_\w+|MKL_\w+|OPENBLAS_\w+|KMP_\w+|ACCELERATE_\w+|DS_\w+|TRITON_\w+|SSL_CERT_(FILE|DIR)|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|(HTTPS?|NO|ALL)_PROXY|(https?|no|all)_proxy)$/;

/** The names the operator lists in EVOLVE_CHILD_ENV (comma-separated), passed on as well. */
const listedChildNames = (env: Record<string, string | undefined>): string[] =>
  (env.EVOLVE_CHILD_ENV ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * The environment of every child process that is not the worker itself (trainer and its launcher,
 * doctor's probes, restart hook, model and Temporal servers), built by allow-list: the variables of
 * CHILD_ENV_ALLOWED that do not look like a credential (HF_TOKEN...), the ones the operator lists in
 * EVOLVE_CHILD_ENV, and `extra`. The worker's own credentials never, even if listed: a program the config
 * names reads nothing it was not meant to.
 */
export function childEnv(
  env: Record<string, string | undefined>,
  extra: Record<string, string> = {},
): Record<string, string> {
  const listed = listedChildNames(env);
  const passed = (name: string) =>
    !RESERVED_SECRET.test(name) &&
    (listed.includes(name) || (CHILD_ENV_ALLOWED.test(name) && !CREDENTIAL_VARIABLE.test(name)));
  const out = Object.entries(env).filter(
    (entry): entry is [string, string] => entry[1] !== undefined && passed(entry[0]),
  );
  return { ...Object.fromEntries(out), ...extra };
}
