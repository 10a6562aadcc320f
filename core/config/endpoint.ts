import { z } from 'zod';
import {
  CREDENTIAL_FIELD,
  type SecretKind,
  credentialKeyPaths,
  mayCarryKey,
  secretNameProblem,
  urlCredentialProblem,
} from '../secrets.js';

/** An http(s) URL with no credentials in it: the config is workflow input, stored in the history. */
export const HttpUrl = z.url({ protocol: /^https?$/ }).superRefine((url, ctx) => {
  const problem = urlCredentialProblem(url);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const BaseUrl = HttpUrl;

/** The name of a variable holding a key; the worker's own credentials are never one (core/secrets.ts). */
export const secretName = (kind: SecretKind, example: string) =>
  z
    .string()
    .regex(/^[A-Z_][A-Z0-9_]*$/, `an environment variable name such as ${example}`)
    .superRefine((name, ctx) => {
      const problem = secretNameProblem(name, kind);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });

/** One issue per key under `value` that carries a credential. */
export const refuseCredentialKeys = (value: unknown, pattern: RegExp, ctx: z.RefinementCtx, what: string) => {
  for (const path of credentialKeyPaths(value, pattern))
    ctx.addIssue({
      code: 'custom',
      path,
      message: `${what} would land in the run history: keep credentials out of the config`,
    });
};

/** Upper bound of every timeout: a day. Past it a typo (an extra digit) would hang a step for weeks. */
export const MAX_TIMEOUT_MS = 86_400_000;
/** Longest outage waited out (a month): past it a run is better restarted by hand. */
export const MAX_OUTAGE_BUDGET_HOURS = 24 * 31;

/**
 * An OpenAI-compatible endpoint: one server (`baseUrl`) or replicas of one (`baseUrls`), balanced by
 * least requests in flight. Keys are never in config: `apiKeyEnv` names the variable that holds one.
 * The tuning fields are optional so that configs (and their hashes) written before them stay valid.
 */
export const EndpointSchema = z
  .strictObject({
    baseUrl: BaseUrl.optional().describe('OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1'),
    baseUrls: z.array(BaseUrl).min(1).optional().describe('replicas serving the same models'),
    apiKeyEnv: secretName('apiKey', 'OPENAI_API_KEY')
      .optional()
      .describe(
        'the variable holding the bearer key: named *_API_KEY or listed in EVOLVE_SECRET_ENV; sent only over https or to loopback',
      ),
    maxConcurrency: z.int().min(1).max(1024).default(4).describe('requests in flight, all replicas together'),
    requestTimeoutMs: z.int().min(1000).max(3_600_000).default(300_000).describe('per request, at most 1 h'),
    supportsN: z
      .boolean()
      .optional()
      .describe('the server honours `n` (vLLM does; transformers serve ignores it). Default false'),
    extraBody: z
      .record(z.string(), z.json())
      .superRefine((body, ctx) => refuseCredentialKeys(body, CREDENTIAL_FIELD, ctx, 'a credential field'))
      .optional()
      .describe('server-specific request fields sent as-is, e.g. {top_k: 20, stop_token_ids: [2]}'),
    maxAttempts: z
      .int()
      .min(1)
      .max(50)
      .optional()
      .describe('tries per request while the server answers other requests. Default 8'),
    outageBudgetHours: z
      .number()
      .positive()
      .max(MAX_OUTAGE_BUDGET_HOURS)
      .optional()
      .describe(
        'how long requests wait out a server that is down (connection errors, timeouts, 5xx) before the step fails. Default 24',
      ),
    ejectCooldownMs: z
      .int()
      .min(0)
      .max(MAX_TIMEOUT_MS)
      .optional()
      .describe('how long a failing replica gets no traffic before it is probed. Default 30000'),
  })
  .refine((e) => (e.baseUrl === undefined) !== (e.baseUrls === undefined), {
    message: 'set exactly one of baseUrl and baseUrls',
    path: ['baseUrl'],
  })
  .superRefine((e, ctx) => {
    if (!e.apiKeyEnv) return;
    const urls: [(string | number)[], string | undefined][] = [
      [['baseUrl'], e.baseUrl],
      ...(e.baseUrls ?? []).map((url, i): [(string | number)[], string] => [['baseUrls', i], url]),
    ];
    for (const [path, url] of urls)
      if (url && URL.canParse(url) && !mayCarryKey(url))
        ctx.addIssue({
          code: 'custom',
          path,
          message: `the key in ${e.apiKeyEnv} goes only over https, or over http to this machine (loopback)`,
        });
  });

/** The base URLs requests go to. */
export const replicaUrls = (endpoint: Endpoint): string[] => endpoint.baseUrls ?? [endpoint.baseUrl!];

export type Endpoint = z.infer<typeof EndpointSchema>;
