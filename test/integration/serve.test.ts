import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import { loadAdapter, vllmReplica } from '../../activities/serve-vllm.js';
import { EndpointSchema, type Serve } from '../../core/config.js';
import type { CheckpointManifest } from '../../core/checkpoint.js';
import type { ServeInput, Served } from '../../core/steps.js';
import { startFakeVllm } from '../support/fake-vllm.js';
import { startModelServer } from '../support/model-server.js';
import { baseModel, pythonBin, requireInstalled } from '../support/paths.js';
import { freePort } from '../support/ports.js';
import { reapOnExit } from '../support/processes.js';
import { until } from '../support/until.js';

const dir = mkdtempSync(join(tmpdir(), 'evolve-serve-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// One real vLLM (CPU, SmolLM2, runtime LoRA updating) for the whole file: its start is the cost here.
let vllm: Awaited<ReturnType<typeof startModelServer>>;
before(async () => {
  vllm = await startModelServer('vllm', 900_000);
});
after(() => vllm?.stop());

/**
 * Real LoRA adapters over the base model, one per directory, made with peft as the trainer's are (q and
 * v projections). Their B matrices start random rather than zero, so that each changes the answers.
 */
const MAKE_ADAPTER = `import sys, torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
base, out, seed = sys.argv[1:]
torch.manual_seed(int(seed))
model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
get_peft_model(model, config).save_pretrained(out)`;
let adapters = 0;

/**
 * A LoRA checkpoint as the trainer registers one: merged weights at <job>/merged (the name the policy goes
 * by), and the adapter vLLM serves over the base model (servedAdapter; vLLM checks adapter_config.json).
 */
function checkpoint(name: string, servedAdapter = true): { path: string; adapter: string } {
  const job = join(dir, name);
  const [path, adapter] = [join(job, 'merged'), join(job, 'vllm-adapter')];
  mkdirSync(path, { recursive: true });
  if (servedAdapter) {
    execFileSync(requireInstalled(pythonBin), ['-c', MAKE_ADAPTER, baseModel, adapter, String(adapters++)], {
      env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' },
      stdio: 'pipe', // its progress bars are noise; on failure the error carries its stderr
    });
  } else mkdirSync(adapter, { recursive: true });
  const manifest: CheckpointManifest = {
    path,
    jobKey: name,
    stage: 'dpo',
    baseModel,
    parent: baseModel,
    referenceModel: baseModel,
    adapter: true,
    adapterPath: join(job, 'output'),
    servedAdapter: servedAdapter ? adapter : null,
    data: { uri: 'pairs.jsonl', sha256: '', rows: 0, trainFile: 'train.jsonl', trainSha256: '' },
    recipe: { uri: join(job, 'recipe.json'), sha256: '' },
    trainer: { backend: 'local', command: [] },
    versions: {},
    metrics: {},
    createdAt: new Date(0).toISOString(),
  };
  writeFileSync(join(job, 'checkpoint.json'), JSON.stringify(manifest));
  return { path, adapter };
}

const endpointOf = (...baseUrls: string[]) => EndpointSchema.parse({ baseUrls, maxAttempts: 2 });

/** Runs the serve activity as the worker wires it, recording its heartbeats. */
async function serve(input: ServeInput, heartbeats: unknown[] = []): Promise<Served> {
  // Failures are what several tests expect: the worker's "Activity failed" warnings would only be noise.
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  env.on('heartbeat', (details: unknown) => heartbeats.push(details));
  return env.run(createActivities().serveCheckpoint, input) as Promise<Served>;
}

/** The failure a serve attempt ended with, for its message and whether Temporal retries it. */
async function failureOf(attempt: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await attempt.then(
    () => assert.fail('serving should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApplicationFailure, String(err));
  return err;
}

/** The models a server lists now. */
async function listed(baseUrl: string): Promise<string[]> {
  const body = (await (await fetch(`${baseUrl}/models`)).json()) as { data: { id: string }[] };
  return body.data.map((m) => m.id);
}

// The real vLLM and, as a second replica (two vLLMs do not fit two shared cores), the fake one.
test('vllm-lora: every replica unloads the old adapter, loads the new one and answers with it', async () => {
  const fake = await startFakeVllm({ model: baseModel });
  try {
    const endpoint = endpointOf(vllm.baseUrl, fake.baseUrl);
    const lora: Serve = { kind: 'vllm-lora' };
    const [one, two] = [checkpoint('iter-1'), checkpoint('iter-2')];
    const [first, second] = [one.path, two.path];

    const served = await serve({ endpoint, model: first, serve: lora, replaces: baseModel });
    assert.equal(served.model, first, 'named by its checkpoint path, loaded from its served adapter');
    assert.ok(served.probe.trim().length > 0, 'vLLM answered the probe with the adapter');
    assert.deepEqual(await listed(vllm.baseUrl), [baseModel, first]);
    // Unloading the base model is "not found": nothing to unload, and no error.
    assert.deepEqual(fake.admin, [`unload ${baseModel} -> 404`, `load ${first} -> 200`]);
    assert.equal(fake.chat.requests.byModel.get(first), 1, 'each replica answered the probe');

    await serve({ endpoint, model: second, serve: lora, replaces: first });
    assert.deepEqual(await listed(vllm.baseUrl), [baseModel, second], 'only the new adapter stays loaded');
    assert.deepEqual(fake.admin.slice(2), [`unload ${first} -> 200`, `load ${second} -> 200`]);

    // A retried activity: the old adapter is gone and the new one listed, so nothing changes.
    const again = await serve({ endpoint, model: second, serve: lora, replaces: first });
    assert.deepEqual(await listed(vllm.baseUrl), [baseModel, second]);
    assert.deepEqual(fake.admin.slice(4), [`unload ${first} -> 404`]);
    // Two loads racing: vLLM's "has already been loaded" counts as loaded.
    await loadAdapter(vllmReplica(vllm.baseUrl, endpoint), second, two.adapter);
    // Back to the base model (keepBest after a regressing first iteration): unload only, vLLM serves it.
    const base = await serve({ endpoint, model: baseModel, serve: lora, replaces: second });
    assert.deepEqual(await listed(vllm.baseUrl), [baseModel]);
    assert.deepEqual([...fake.adapters], []);
    // The adapters are really applied: greedy answers to the same question differ from the base model's.
    assert.notEqual(served.probe, base.probe, `iter-1 and the base model both answered ${base.probe}`);
    assert.notEqual(again.probe, base.probe, `iter-2 and the base model both answered ${base.probe}`);
  } finally {
    await fake.close();
  }
});

test('vllm-lora: a server without runtime LoRA updating or a bad adapter path fails at once, naming the replica', async () => {
  // The fault: a vLLM started without VLLM_ALLOW_RUNTIME_LORA_UPDATING, which has no LoRA routes.
  const off = await startFakeVllm({ model: baseModel, runtimeLora: false });
  try {
    const model = checkpoint('iter-1').path;
    const noRoutes = await failureOf(
      serve({ endpoint: endpointOf(off.baseUrl), model, serve: { kind: 'vllm-lora' }, replaces: baseModel }),
    );
    assert.equal(noRoutes.nonRetryable, true);
    assert.ok(noRoutes.message.startsWith(`POST ${off.baseUrl}/unload_lora_adapter answered 404`));
    assert.match(noRoutes.message, /VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and --enable-lora/);
  } finally {
    await off.close();
  }

  const broken = checkpoint('no-adapter-config');
  await unlink(join(broken.adapter, 'adapter_config.json'));
  const badPath = await failureOf(
    serve({ endpoint: endpointOf(vllm.baseUrl), model: broken.path, serve: { kind: 'vllm-lora' } }),
  );
  assert.equal(badPath.nonRetryable, true);
  // vLLM 0.32 hides the paths in its reply: the error names the adapter path itself.
  assert.equal(
    badPath.message,
    `POST ${vllm.baseUrl}/load_lora_adapter (lora_path ${broken.adapter}) answered 404: ` +
      'Loading lora <path> failed: No adapter found for <path>',
  );

  const full = checkpoint('full-fine-tune', false);
  const noAdapter = await failureOf(
    serve({ endpoint: endpointOf(vllm.baseUrl), model: full.path, serve: { kind: 'vllm-lora' } }),
  );
  assert.equal(noAdapter.nonRetryable, true);
  assert.match(noAdapter.message, /has no adapter vLLM can serve over the base model/);
  assert.deepEqual(await listed(vllm.baseUrl), [baseModel], 'nothing loaded');
});

test('restart: the hook relaunches the server on the checkpoint; serving waits for health, the model list and a completion', async () => {
  const port = await freePort();
  const state = join(dir, 'restart');
  mkdirSync(state);
  // A deployment's restart script: stop the old server, start one on the checkpoint, return at once.
  const hook = join(state, 'restart.sh');
  writeFileSync(
    hook,
    `#!/bin/bash
set -e
if [ -f ${state}/pid ]; then
  old=$(cat ${state}/pid); kill "$old"; while kill -0 "$old" 2>/dev/null; do sleep 0.1; done
fi
nohup node --import tsx test/support/fake-vllm.ts --model "$1" --port ${port} --loading-ms 1500 \\
  > ${state}/server.log 2>&1 &
echo $! > ${state}/pid
`,
  );
  const pid = () => Number(readFileSync(join(state, 'pid'), 'utf8'));
  const stop = () => {
    try {
      process.kill(pid());
    } catch {
      /* already gone */
    }
  };
  // nohup's server is init's child, out of this process's tree: named to the reaper explicitly.
  reapOnExit(stop);
  execFileSync('bash', [hook, 'base']);
  const endpoint = endpointOf(`http://127.0.0.1:${port}/v1`);
  try {
    await until('the first server', async () => {
      const reply = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
      return reply?.status === 200;
    });
    const before = pid();
    const model = join(dir, 'iter-1-full');
    const restart: Serve = {
      kind: 'restart',
      command: ['bash', hook, '{checkpoint}'],
      healthTimeoutMs: 60_000,
    };
    const heartbeats: unknown[] = [];
    const served = await serve({ endpoint, model, serve: restart, replaces: 'base' }, heartbeats);
    assert.equal(served.model, model);
    assert.match(served.probe, /answer is/);
    assert.notEqual(pid(), before, 'the hook started a new server');
    const models = (await (await fetch(`${endpoint.baseUrls![0]}/models`)).json()) as {
      data: { id: string }[];
    };
    assert.deepEqual(
      models.data.map((m) => m.id),
      [model],
    );
    assert.ok(
      heartbeats.some((h) => String(h).startsWith('waiting for 1/1 replica(s):')),
      `heartbeats name what is awaited: ${JSON.stringify(heartbeats)}`,
    );

    // A retry after the restart finished finds the checkpoint served and restarts nothing.
    const again = pid();
    await serve({ endpoint, model, serve: restart, replaces: 'base' });
    assert.equal(pid(), again);
  } finally {
    stop();
  }
});

test('restart: a failing hook, a missing program and a server that never serves the checkpoint are clear errors', async () => {
  const endpoint = endpointOf(vllm.baseUrl);
  const model = '/ckpt/iter-1';
  const hook = (command: string[], healthTimeoutMs = 60_000): Serve => ({
    kind: 'restart',
    command,
    healthTimeoutMs,
  });

  const failed = await failureOf(
    serve({
      endpoint,
      model,
      serve: hook(['bash', '-c', 'echo "no GPU for $0" >&2; exit 3', '{checkpoint}']),
    }),
  );
  assert.equal(failed.nonRetryable, false, 'a failed restart may pass: Temporal retries it');
  assert.match(
    failed.message,
    /^restart hook `bash -c .* \/ckpt\/iter-1` exited 3; last output:\nno GPU for \/ckpt\/iter-1$/,
  );

  const missing = await failureOf(
    serve({ endpoint, model, serve: hook(['/no/such/restart', '{checkpoint}']) }),
  );
  assert.equal(missing.nonRetryable, true);
  assert.equal(
    missing.message,
    'policy.serve.command: /no/such/restart not found (/no/such/restart /ckpt/iter-1)',
  );

  // The hook "succeeds" but the server keeps serving the old model.
  const stuck = await failureOf(serve({ endpoint, model, serve: hook(['true'], 3_000) }));
  assert.equal(
    stuck.message,
    `/ckpt/iter-1 not served after 3000 ms: ${vllm.baseUrl}/models lists ${baseModel}, not /ckpt/iter-1`,
  );
});

test('by-path: the real transformers serve answers the probe with the checkpoint it loaded by path', async () => {
  const server = await startModelServer();
  try {
    const served = await serve({ endpoint: endpointOf(server.baseUrl), model: server.model });
    assert.equal(served.model, server.model);
    assert.ok(served.probe.trim().length > 0);
  } finally {
    await server.stop();
  }
});
