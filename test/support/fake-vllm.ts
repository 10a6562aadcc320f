import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startFakeOpenAI, type FakeServer } from './fake-openai.js';

/**
 * A vLLM OpenAI server as evolve's serve step sees it: /health, /v1/models (the base model and every
 * LoRA adapter, with root and parent), and with runtime LoRA updating on (VLLM_ALLOW_RUNTIME_LORA_UPDATING)
 * POST /v1/load_lora_adapter and /v1/unload_lora_adapter with vLLM's replies: plain-text success,
 * 400 "has already been loaded", 404 "cannot be found", 404 "No adapter found" for a path without
 * adapter_config.json, and FastAPI's 404 {"detail": "Not Found"} when the routes are off. Chat
 * completions for a model it does not serve answer vLLM's 404; the others are answered by a fake
 * OpenAI server (fake-openai.ts) behind it.
 */
export interface FakeVllmOptions {
  /** The base model's name (vLLM's --model, or --served-model-name). */
  model: string;
  /** VLLM_ALLOW_RUNTIME_LORA_UPDATING=True. Default true. */
  runtimeLora?: boolean;
  /** The engine loads this long after start: /health and chat answer 503 meanwhile. */
  loadingMs?: number;
  port?: number;
}

export interface FakeVllm {
  baseUrl: string;
  /** Loaded adapters: name -> path. */
  adapters: Map<string, string>;
  /** Every admin request, e.g. `load ckpt-1 -> 200`. */
  admin: string[];
  chat: FakeServer;
  close(): Promise<void>;
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });

/** vLLM's error body (ErrorResponse with ErrorInfo). */
const errorBody = (message: string, type: string, code: number) =>
  JSON.stringify({ error: { message, type, param: null, code } });

export async function startFakeVllm(options: FakeVllmOptions): Promise<FakeVllm> {
  const chat = await startFakeOpenAI();
  const adapters = new Map<string, string>();
  const admin: string[] = [];
  const readyAt = Date.now() + (options.loadingMs ?? 0);
  const runtimeLora = options.runtimeLora ?? true;
  const created = Math.floor(Date.now() / 1000);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const text = await readBody(req);
    const send = (status: number, body: string, type = 'application/json') =>
      res.writeHead(status, { 'content-type': type }).end(body);
    const route = `${req.method} ${req.url}`;
    if (Date.now() < readyAt)
      return send(503, errorBody('The engine is still loading.', 'ServiceUnavailable', 503));
    if (route === 'GET /health') return send(200, '');
    if (route === 'GET /v1/models') {
      const card = (id: string, root: string, parent: string | null) => ({
        id,
        object: 'model',
        created,
        owned_by: 'vllm',
        root,
        parent,
        max_model_len: 2048,
        permission: [],
      });
      const data = [
        card(options.model, options.model, null),
        ...[...adapters].map(([name, path]) => card(name, path, options.model)),
      ];
      return send(200, JSON.stringify({ object: 'list', data }));
    }
    if (route === 'POST /v1/load_lora_adapter' || route === 'POST /v1/unload_lora_adapter') {
      if (!runtimeLora) return send(404, JSON.stringify({ detail: 'Not Found' }));
      const { lora_name: name, lora_path: path } = JSON.parse(text) as {
        lora_name?: string;
        lora_path?: string;
      };
      const reply = (status: number, body: string, type?: string) => {
        admin.push(`${route.includes('unload') ? 'unload' : 'load'} ${name} -> ${status}`);
        send(status, body, type);
      };
      if (route.includes('unload')) {
        if (!name)
          return reply(
            400,
            errorBody("either 'lora_name' and 'lora_int_id' needs to be provided.", 'InvalidUserInput', 400),
          );
        if (!adapters.has(name))
          return reply(404, errorBody(`The lora adapter '${name}' cannot be found.`, 'NotFoundError', 404));
        adapters.delete(name);
        return reply(200, `Success: LoRA adapter '${name}' removed successfully.`, 'text/plain');
      }
      if (!name || !path)
        return reply(
          400,
          errorBody("Both 'lora_name' and 'lora_path' must be provided.", 'InvalidUserInput', 400),
        );
      if (adapters.has(name))
        return reply(
          400,
          errorBody(`The lora adapter '${name}' has already been loaded.`, 'InvalidUserInput', 400),
        );
      if (!existsSync(join(path, 'adapter_config.json'))) {
        return reply(
          404,
          // vLLM 0.32 replaces both paths with <path> in what it answers.
          errorBody('Loading lora <path> failed: No adapter found for <path>', 'NotFoundError', 404),
        );
      }
      adapters.set(name, path);
      return reply(200, `Success: LoRA adapter '${name}' added successfully.`, 'text/plain');
    }
    if (route === 'POST /v1/chat/completions') {
      const { model } = JSON.parse(text) as { model: string };
      if (model !== options.model && !adapters.has(model)) {
        return send(404, errorBody(`The model \`${model}\` does not exist.`, 'NotFoundError', 404));
      }
      const upstream = await fetch(`${chat.baseUrl}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: text,
      });
      return send(upstream.status, await upstream.text());
    }
    send(404, JSON.stringify({ detail: 'Not Found' }));
  };

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    adapters,
    admin,
    chat,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await chat.close();
    },
  };
}

// As a process (the restart hook test starts it): a full-weights server of --model on --port until SIGTERM.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values } = parseArgs({
    options: { model: { type: 'string' }, port: { type: 'string' }, 'loading-ms': { type: 'string' } },
  });
  const vllm = await startFakeVllm({
    model: values.model!,
    port: Number(values.port),
    loadingMs: Number(values['loading-ms'] ?? 0),
    runtimeLora: false,
  });
  console.log(`fake vLLM serving ${values.model} on ${vllm.baseUrl}`);
  process.on('SIGTERM', () => void vllm.close().then(() => process.exit(0)));
}
