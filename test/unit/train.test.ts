import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTrainerMetrics } from '../../core/trainer-log.js';
import {
  DPO_ENTRY_POINT,
  dpoArgs,
  entryPoint,
  launched,
  openRLHFCommand,
  resumable,
  sftArgs,
} from '../../activities/training/recipe.js';
import { TrainerSchema } from '../../core/config.js';
import { recipeKey, trainerEnv } from '../../activities/training/index.js';
import { demoConfig } from '../support/config.js';

// Real `trl dpo` output: metric dicts with quoted values, interleaved with tqdm carriage returns.
const log = [
  'Map: 100%|##########| 8/8 [00:00<00:00]\r 25%|##5       | 1/4 [00:08<00:25]',
  "{'loss': '0.6931', 'grad_norm': '13.42', 'learning_rate': '5e-06', 'rewards/margins': '0', 'epoch': '0.25'}\r 50%|#####     | 2/4",
  "{'loss': '0.2166', 'grad_norm': '9.1', 'learning_rate': '2.5e-06', 'rewards/margins': '1.37', 'epoch': '1'}",
  "{'train_runtime': '35.4', 'train_samples_per_second': '0.226', 'train_loss': '0.4188', 'epoch': '1'}",
  '✅ Training completed.',
].join('\n');

test('training metrics are read from the trainer log: first and last loss, margins, runtime, steps', () => {
  const m = parseTrainerMetrics(log);
  assert.equal(m.firstLoss, 0.6931);
  assert.equal(m.loss, 0.2166);
  assert.equal(m['rewards/margins'], 1.37);
  assert.equal(m.train_loss, 0.4188);
  assert.equal(m.train_runtime, 35.4);
  assert.equal(m.logLines, 3);
  assert.equal(m.optimizerSteps, 2, 'one loss line per optimizer step; the summary line is none');
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

/** The values after each flag, for flags that may take several (nargs) or none (store_true). */
function flags(argv: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = '';
  for (const a of argv) {
    if (a.startsWith('--')) out.set((current = a), []);
    else if (current) out.get(current)!.push(a);
  }
  return out;
}

test('the OpenRLHF DPO command uses train_dpo.py flags: reference, LoRA, resumable checkpoints', () => {
  const trainer = TrainerSchema.parse({
    backend: 'local',
    beta: 0.2,
    epochs: 1.5,
    batchSize: 4,
    gradientAccumulation: 8,
    maxLength: 1024,
    saveSteps: 50,
    lora: { r: 8, alpha: 16, dropout: 0.1, targetModules: ['q_proj', 'v_proj'] },
  });
  const argv = openRLHFCommand(trainer, '/m/policy', '/m/base', '/job/data/train.jsonl', '/job/output');
  assert.deepEqual(argv.slice(0, 3), ['deepspeed', '--module', 'openrlhf.cli.train_dpo']);
  const f = flags(argv.slice(3));
  // Every flag is one train_dpo.py's argparse defines (OpenRLHF main).
  const known = new Set(
    [
      'pretrain ref_pretrain dataset prompt_key chosen_key rejected_key apply_chat_template save_path',
      'ckpt_path load_checkpoint save_steps logging_steps beta learning_rate max_epochs',
      'micro_train_batch_size train_batch_size max_len zero_stage bf16 gradient_checkpointing',
      'lora_rank lora_alpha lora_dropout target_modules',
    ]
      .join(' ')
      .split(' ')
      .map((n) => `--${n}`),
  );
  assert.deepEqual(
    [...f.keys()].filter((k) => !known.has(k)),
    [],
  );
  assert.deepEqual(f.get('--pretrain'), ['/m/policy']);
  assert.deepEqual(f.get('--ref_pretrain'), ['/m/base']);
  assert.deepEqual(f.get('--dataset'), ['/job/data/train.jsonl']);
  assert.deepEqual(f.get('--beta'), ['0.2']);
  assert.deepEqual(f.get('--max_epochs'), ['2'], 'an int there: 1.5 epochs round up');
  assert.deepEqual(f.get('--micro_train_batch_size'), ['4']);
  assert.deepEqual(f.get('--train_batch_size'), ['32']);
  assert.deepEqual(f.get('--max_len'), ['1024']);
  assert.deepEqual(f.get('--save_steps'), ['50']);
  assert.deepEqual(f.get('--ckpt_path'), ['/job/output/checkpoints']);
  assert.deepEqual(f.get('--load_checkpoint'), []);
  assert.deepEqual(f.get('--lora_rank'), ['8']);
  assert.deepEqual(f.get('--lora_dropout'), ['0.1']);
  assert.deepEqual(f.get('--target_modules'), ['q_proj', 'v_proj']);
  const full = flags(openRLHFCommand({ ...trainer, lora: undefined }, '/p', '/p', '/d', '/o'));
  assert.ok(!full.has('--lora_rank'), 'full fine-tuning: no LoRA flags');
});

test('the SFT recipe takes its own learning rate and epochs, and no DPO-only flags', () => {
  const trainer = TrainerSchema.parse({
    backend: 'local',
    learningRate: 5e-7,
    extraArgs: ['--rpo_alpha', '1'],
    sft: { when: 'every', learningRate: 2e-5, epochs: 2 },
  });
  const f = flags(sftArgs(trainer, '/m', '/data', '/out'));
  assert.deepEqual(f.get('--learning_rate'), [String(2e-5)]);
  assert.deepEqual(f.get('--num_train_epochs'), ['2']);
  assert.ok(!f.has('--beta') && !f.has('--rpo_alpha'), "beta and extraArgs are the DPO stage's");
  assert.deepEqual(flags(dpoArgs(trainer, '/m', '/data', '/out')).get('--learning_rate'), ['5e-7']);
});

test("the entry point: TRL's SFT script, or the job's copy of evolve's DPO entry point", () => {
  assert.deepEqual(entryPoint('sft', '/p', '/p', '/job/dpo.py'), ['-m', 'trl.scripts.sft']);
  assert.deepEqual(entryPoint('dpo', '/p', '/p', '/job/dpo.py'), ['/job/dpo.py']);
  const wrapped = entryPoint('dpo', '/p', '/base', '/job/dpo.py');
  assert.deepEqual(wrapped, ['/job/dpo.py', '--ref_model_name_or_path', '/base']);
  assert.match(readFileSync(DPO_ENTRY_POINT, 'utf8'), /class EvolveDPOTrainer\(trl\.DPOTrainer\)/);
  const command = resumable('py', wrapped, ['--beta', '0.1'], { outputDir: '/o', mergedDir: null });
  assert.deepEqual(command.slice(3, 7), ['evolve-train', 'py', '/o', '']);
  assert.deepEqual(command.slice(-4), ['--ref_model_name_or_path', '/base', '--beta', '0.1']);
  const dirs = { outputDir: '/o', mergedDir: '/m', servedDir: '/s', parentServedDir: '/p' };
  const lora = resumable('py', wrapped, ['--beta', '0.1'], dirs);
  assert.deepEqual(lora.slice(3, 9), ['evolve-train', 'py', '/o', '/m', '/p', '/s']);
  assert.match(lora[2]!, /combination_type="cat"/);
});

test("the loss flags: evolve's loss, its NLL term and SRPO's alpha, before the extra args", () => {
  const f = (extra: Record<string, unknown>) =>
    flags(dpoArgs(TrainerSchema.parse({ backend: 'local', ...extra }), '/m', '/data', '/out'));
  const plain = f({});
  assert.deepEqual(plain.get('--evolve_loss'), ['dpo']);
  assert.ok(!plain.has('--evolve_nll') && !plain.has('--srpo_alpha'), 'no NLL term, no SRPO by default');
  const rpo = f({ nll: 0.5, extraArgs: ['--seed', '3'] });
  assert.deepEqual(rpo.get('--evolve_nll'), ['0.5']);
  assert.deepEqual(rpo.get('--seed'), ['3']);
  const srpo = f({ loss: 'srpo', srpoAlpha: 0.2 });
  assert.deepEqual(srpo.get('--evolve_loss'), ['srpo']);
  assert.deepEqual(srpo.get('--srpo_alpha'), ['0.2']);
});

test('the launcher: the entry point as it is, or under accelerate launch with N processes and a config', () => {
  const entry = ['/job/dpo.py', '--ref_model_name_or_path', '/base'];
  const files = (config: string | null) => ({ launcher: '/job/launch.py', config });
  const parse = (launcher: unknown) => TrainerSchema.parse({ backend: 'local', launcher });
  assert.deepEqual(TrainerSchema.parse({ backend: 'local' }).launcher, { kind: 'python' });
  assert.deepEqual(launched(parse({ kind: 'python' }), entry, files(null), 'k'), entry);
  const ddp = launched(parse({ kind: 'accelerate', numProcesses: 2 }), entry, files(null), 'run/it1/train');
  assert.deepEqual(ddp.slice(0, 3), ['/job/launch.py', '--num_processes', '2']);
  assert.ok(ddp.includes('--multi_gpu'), 'no config file: plain data parallel');
  assert.deepEqual(ddp.slice(-3), entry, 'the entry point and its flags come last');
  const port = Number(ddp[ddp.indexOf('--main_process_port') + 1]);
  assert.ok(port >= 20_000 && port < 40_000);
  const again = launched(parse({ kind: 'accelerate', numProcesses: 2 }), entry, files(null), 'run/it1/train');
  assert.deepEqual(again, ddp, 'the same job key, the same port (a relaunch finds its rendezvous)');
  const zero3 = parse({
    kind: 'accelerate',
    numProcesses: 8,
    config: 'deploy/trainer/accelerate/zero3.yaml',
  });
  const sharded = launched(zero3, ['-m', 'trl.scripts.sft'], files('/job/accelerate.yaml'), 'k');
  assert.deepEqual(sharded.slice(sharded.indexOf('--config_file'), -2), [
    '--config_file',
    '/job/accelerate.yaml',
  ]);
  assert.ok(!sharded.includes('--multi_gpu'));
  assert.deepEqual(sharded.slice(-2), ['-m', 'trl.scripts.sft'], 'accelerate launch -m runs a module');
  const onCpu = launched({ ...zero3, device: 'cpu' }, entry, files('/job/accelerate.yaml'), 'k');
  assert.deepEqual(
    onCpu.slice(onCpu.indexOf('--config_file'), -3),
    ['--config_file', '/job/accelerate.yaml', '--mixed_precision', 'no'],
    "on the CPU fp32, whatever the file's mixed_precision",
  );
  for (const file of ['zero3.yaml', 'fsdp.yaml']) {
    const text = readFileSync(`deploy/trainer/accelerate/${file}`, 'utf8');
    assert.match(text, /distributed_type: (DEEPSPEED|FSDP)/);
  }
  assert.throws(() => parse({ kind: 'accelerate' }), /numProcesses/);
});

test('trainer.cpuThreads sets the CPU trainer threads in the job environment, and only on the CPU', () => {
  const cpu = trainerEnv(TrainerSchema.parse({ backend: 'local', device: 'cpu', cpuThreads: 1 }));
  assert.equal(cpu.OMP_NUM_THREADS, '1');
  assert.equal(cpu.MKL_NUM_THREADS, '1');
  const cuda = trainerEnv(TrainerSchema.parse({ backend: 'local', device: 'cuda', cpuThreads: 1 }));
  assert.equal(cuda.OMP_NUM_THREADS, undefined);
  assert.equal(
    trainerEnv(TrainerSchema.parse({ backend: 'local', device: 'cpu' })).OMP_NUM_THREADS,
    undefined,
  );
});

test("a training job's reuse key holds stage 0's recipe but not where its dataset file lies", () => {
  const trainer = (sft: object) => TrainerSchema.parse({ ...demoConfig().trainer, sft });
  const at = (dataset: string, learningRate = 5e-5) => recipeKey(trainer({ dataset, learningRate }));
  assert.deepEqual(at('/a/demonstrations.jsonl'), at('/b/demonstrations.jsonl'));
  assert.notDeepEqual(at('/a/demonstrations.jsonl'), at('/a/demonstrations.jsonl', 1e-4));
});

test("an SFT job's reuse key ignores what only DPO reads, and holds what SFT reads", () => {
  const trainer = (patch: object) => TrainerSchema.parse({ ...demoConfig().trainer, ...patch });
  const sftKey = (patch: object) => recipeKey(trainer(patch), 'sft');
  const dpoOnly = [{ learningRate: 3e-6 }, { beta: 0.3 }, { epochs: 3 }, { reference: 'initial' }];
  for (const patch of [...dpoOnly, { loss: 'srpo' }, { extraArgs: ['--max_steps', '1'] }]) {
    assert.deepEqual(sftKey(patch), sftKey({}), JSON.stringify(patch));
  }
  for (const patch of dpoOnly) {
    assert.notDeepEqual(
      recipeKey(trainer(patch), 'dpo'),
      recipeKey(trainer({}), 'dpo'),
      JSON.stringify(patch),
    );
  }
  for (const patch of [
    { sft: { learningRate: 1e-4 } },
    { sft: { epochs: 2 } },
    { batchSize: 8 },
    { maxLength: 64 },
  ]) {
    assert.notDeepEqual(sftKey(patch), sftKey({}), JSON.stringify(patch));
  }
  assert.deepEqual(sftKey({ sft: { dataset: '/a.jsonl' } }), sftKey({ sft: { dataset: '/b.jsonl' } }));
});
