import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTrainerMetrics } from '../../activities/training/metrics.js';
import { dpoArgs } from '../../activities/training/recipe.js';
import { demoConfig } from '../support/config.js';

// Real `trl dpo` output: metric dicts with quoted values, interleaved with tqdm carriage returns.
const log = [
  'Map: 100%|##########| 8/8 [00:00<00:00]\r 25%|##5       | 1/4 [00:08<00:25]',
  "{'loss': '0.6931', 'grad_norm': '13.42', 'learning_rate': '5e-06', 'rewards/margins': '0', 'epoch': '0.25'}\r 50%|#####     | 2/4",
  "{'loss': '0.2166', 'grad_norm': '9.1', 'learning_rate': '2.5e-06', 'rewards/margins': '1.37', 'epoch': '1'}",
  "{'train_runtime': '35.4', 'train_samples_per_second': '0.226', 'train_loss': '0.4188', 'epoch': '1'}",
  '✅ Training completed.',
].join('\n');

test('training metrics are read from the trainer log: first and last loss, margins, runtime', () => {
  const m = parseTrainerMetrics(log);
  assert.equal(m.firstLoss, 0.6931);
  assert.equal(m.loss, 0.2166);
  assert.equal(m['rewards/margins'], 1.37);
  assert.equal(m.train_loss, 0.4188);
  assert.equal(m.train_runtime, 35.4);
  assert.equal(m.logLines, 3);
});

test('the CPU recipe trains in fp32 and passes the config through to trl dpo', () => {
  const trainer = { ...demoConfig().trainer, extraArgs: ['--seed', '7'] };
  const args = dpoArgs(trainer, '/m', '/data', '/out');
  const flag = (name: string) => args[args.indexOf(name) + 1];
  assert.equal(flag('--model_name_or_path'), '/m');
  assert.equal(flag('--dataset_name'), '/data');
  assert.equal(flag('--beta'), '0.1');
  assert.equal(flag('--max_length'), '256');
  assert.equal(flag('--use_cpu'), 'true');
  assert.equal(flag('--bf16'), 'false');
  assert.equal(flag('--dtype'), 'float32');
  assert.deepEqual(args.slice(-2), ['--seed', '7']);
  const gpu = dpoArgs({ ...trainer, device: 'cuda' }, '/m', '/data', '/out');
  assert.equal(gpu[gpu.indexOf('--bf16') + 1], 'true');
  assert.ok(!gpu.includes('--use_cpu'));
});
