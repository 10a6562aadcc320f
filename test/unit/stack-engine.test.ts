import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandFor, stackSettings } from '../../deploy/stack.js';

test('EVOLVE_MODEL_ENGINE picks the model server: transformers serve by default, vLLM from its own venv', () => {
  const transformers = commandFor(stackSettings({ EVOLVE_HOME: '/h' }), 'model');
  assert.equal(transformers.cmd, '/h/venv/bin/transformers');

  const vllm = commandFor(stackSettings({ EVOLVE_HOME: '/h', EVOLVE_MODEL_ENGINE: 'vllm' }), 'model');
  assert.equal(vllm.cmd, '/h/vllm-venv/bin/python');
  assert.deepEqual(vllm.args.slice(0, 2), ['-m', 'vllm.entrypoints.openai.api_server']);
  assert.equal(vllm.args[vllm.args.indexOf('--model') + 1], '/h/models/smollm2-135m-instruct');
  assert.ok(vllm.args.includes('--enable-lora'));
  assert.ok(vllm.args.includes('--no-enable-chunked-prefill'), 'seeded requests would kill the CPU engine');
  assert.equal(vllm.env.VLLM_ALLOW_RUNTIME_LORA_UPDATING, 'True', 'the LoRA routes vllm-lora needs');
  assert.equal(vllm.env.VLLM_CACHE_ROOT, '/h/vllm-cache', 'the compile cache outlives the process');

  assert.throws(
    () => stackSettings({ EVOLVE_MODEL_ENGINE: 'sglang' }),
    /^Error: EVOLVE_MODEL_ENGINE=sglang: expected one of transformers, vllm$/,
  );
});
