import { ApplicationFailure } from '@temporalio/common';
import type { Endpoint } from '../core/config.js';
import { send, type HttpReply } from '../trainers/http.js';
import { readSecret } from '../core/secret-env.js';

/**
 * vLLM's admin routes on one replica (`baseUrl` is its `…/v1`). The LoRA routes exist only when vLLM
 * runs with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True; /health sits at the server root.
 */
export interface VllmReplica {
  baseUrl: string;
  headers: Record<string, string>;
}

export const vllmReplica = (baseUrl: string, endpoint: Endpoint): VllmReplica => {
  const key = endpoint.apiKeyEnv && readSecret(endpoint.apiKeyEnv, 'apiKey', 'policy.endpoint.apiKeyEnv');
  return { baseUrl: baseUrl.replace(/\/+$/, ''), headers: key ? { authorization: `Bearer ${key}` } : {} };
};

const serverRoot = (replica: VllmReplica) => replica.baseUrl.replace(/\/v1$/, '');

/** The message of a vLLM error reply: `{error: {message}}` (current), `{message}` (older), `{detail}` (FastAPI). */
export function replyMessage(reply: HttpReply): string {
  try {
    const body = JSON.parse(reply.text) as {
      error?: { message?: string };
      message?: string;
      detail?: unknown;
    };
    const message = body.error?.message ?? body.message ?? body.detail;
    if (typeof message === 'string') return message;
  } catch {
    /* not JSON: the text itself */
  }
  return reply.text.trim().slice(0, 500) || '(empty reply)';
}

/** FastAPI's answer for a route the server does not have. */
const routeMissing = (reply: HttpReply) => reply.status === 404 && replyMessage(reply) === 'Not Found';

/** A 5xx or a refused connection may pass; a 4xx is the server refusing what it was asked. */
function failure(what: string, reply: HttpReply): ApplicationFailure {
  const message = `${what} answered ${reply.status}: ${replyMessage(reply)}`;
  return reply.status >= 500
    ? ApplicationFailure.retryable(message, 'ServeUnavailable')
    : ApplicationFailure.nonRetryable(message, 'ServeRejected');
}

async function call(
  replica: VllmReplica,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<HttpReply & { what: string }> {
  const url = `${replica.baseUrl}${path}`;
  const what = `${method} ${url}`;
  const headers = { ...replica.headers, ...(body ? { 'content-type': 'application/json' } : {}) };
  try {
    const reply = await send(url, { method, headers, body: body ? JSON.stringify(body) : undefined });
    return { ...reply, what };
  } catch (err) {
    throw ApplicationFailure.retryable(`${what}: ${(err as Error).message}`, 'ServeUnavailable');
  }
}

const noRuntimeLora = (what: string) =>
  ApplicationFailure.nonRetryable(
    `${what} answered 404 Not Found: this vLLM cannot load adapters at runtime; start it with ` +
      'VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and --enable-lora',
    'ServeRejected',
  );

/** The model names a replica serves now: the base model and every loaded adapter. */
export async function listModels(replica: VllmReplica): Promise<string[]> {
  const reply = await call(replica, 'GET', '/models');
  if (reply.status !== 200) throw failure(reply.what, reply);
  const body = JSON.parse(reply.text) as { data?: { id: string }[] };
  return (body.data ?? []).map((m) => m.id);
}

/** GET /health at the server root: 200 once the engine is up. */
export async function health(replica: VllmReplica): Promise<HttpReply & { what: string }> {
  return call({ ...replica, baseUrl: serverRoot(replica) }, 'GET', '/health');
}

/** Loads an adapter; one already loaded under that name counts as loaded (a retried activity). */
export async function loadAdapter(replica: VllmReplica, name: string, path: string): Promise<void> {
  const reply = await call(replica, 'POST', '/load_lora_adapter', { lora_name: name, lora_path: path });
  if (reply.status === 200) return;
  if (routeMissing(reply)) throw noRuntimeLora(reply.what);
  if (reply.status === 400 && replyMessage(reply).includes('has already been loaded')) return;
  throw failure(`${reply.what} (lora_path ${path})`, reply);
}

/** Unloads an adapter; one the replica does not have (never loaded, or a base model) is already gone. */
export async function unloadAdapter(replica: VllmReplica, name: string): Promise<void> {
  const reply = await call(replica, 'POST', '/unload_lora_adapter', { lora_name: name });
  if (reply.status === 200) return;
  if (routeMissing(reply)) throw noRuntimeLora(reply.what);
  if (reply.status === 404 && replyMessage(reply).includes('cannot be found')) return;
  throw failure(reply.what, reply);
}

/**
 * Makes a replica serve the policy `model` (its name downstream: the checkpoint path) from the adapter
 * directory `adapter`: unloads `replaces` first (it frees the slot under --max-loras), then loads unless
 * the replica already lists `model` (a retry). `adapter` null is the base model, which vLLM always
 * serves. Every step holds when repeated, so a retried activity converges.
 */
export async function swapAdapter(
  replica: VllmReplica,
  model: string,
  adapter: string | null,
  replaces?: string,
): Promise<void> {
  if (replaces !== undefined && replaces !== model) await unloadAdapter(replica, replaces);
  if (adapter === null || (await listModels(replica)).includes(model)) return;
  await loadAdapter(replica, model, adapter);
}
