import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createTrainingActivities } from '../../activities/training/index.js';
import { CheckpointManifestSchema } from '../../core/checkpoint.js';
import { pythonBin, requireInstalled } from '../support/paths.js';
import { processesWith } from '../support/processes.js';
import { until } from '../support/until.js';
import { runIn, submitInput, trainer, writePairs } from '../support/training.js';

const offline = { HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', HF_DATASETS_OFFLINE: '1' };
/** The test's PYTHONPATH goes on to the trainer: how a deepspeed installed beside the venv is found. */
const pythonPath = (first: string) =>
  [first, ...(process.env.PYTHONPATH ? [process.env.PYTHONPATH] : [])].join(':');

/** Runs python code with test/python importable; returns the run. */
const python = (code: string, ...args: string[]) =>
  spawnSync(requireInstalled(pythonBin), ['-c', code, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...offline, PYTHONPATH: pythonPath(resolve('test/python')) },
  });

/** Its last stdout line, as JSON, of python code that must succeed. */
function pythonJson(code: string, ...args: string[]): unknown {
  const run = python(code, ...args);
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!);
}

/**
 * The trainer's python with test/python/sharded_cpu on its path: its sitecustomize keeps accelerate's FSDP on
 * the CPU (accelerate demotes it to plain data parallel there), prints what ran, and holds the ranks after
 * checkpoint-1 until one is killed.
 */
function heldPython(dir: string): string {
  const path = join(dir, 'python');
  const real = requireInstalled(pythonBin);
  const env = `PYTHONPATH=${pythonPath(resolve('test/python/sharded_cpu'))} EVOLVE_TEST_HOLD_FIRST_SAVE=1`;
  writeFileSync(path, `#!/bin/sh\n${env} exec ${real} "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

const deepspeed = python('import importlib.util; assert importlib.util.find_spec("deepspeed")').status === 0;

const configs = [
  {
    name: 'FSDP 2',
    file: 'fsdp.yaml',
    distributed: 'FSDP',
    // The trainer's FSDP checkpoint files (DDP's would be optimizer.pt).
    sharded: () => ['pytorch_model_fsdp.bin', 'optimizer.bin'],
    skip: false,
  },
  {
    name: 'DeepSpeed ZeRO-3',
    file: 'zero3.yaml',
    distributed: 'DEEPSPEED',
    // Each rank's partition of the weights and optimizer state.
    sharded: (step: number) =>
      [0, 1].flatMap((r) =>
        ['model', 'optim'].map((s) => `global_step${step}/zero_pp_rank_${r}_mp_rank_00_${s}_states.pt`),
      ),
    skip:
      !deepspeed &&
      "deepspeed is not importable by the trainer's python (put it on PYTHONPATH or in the venv)",
  },
];

// A shipped deploy/trainer/accelerate config under a real 2-process `accelerate launch` (torchrun, gloo on the
// CPU) through the local backend, on a tiny random Llama: the checkpoints are sharded ones, one rank killed
// after checkpoint-1 fails the attempt, the relaunch resumes from it, and the model gathered on save loads as
// an ordinary transformers model.
for (const config of configs) {
  test(
    `${config.name} on 2 CPU processes: sharded checkpoints, a killed rank resumes, the model loads`,
    { skip: config.skip },
    async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'evolve-sharded-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const model = join(dir, 'model');
      pythonJson(
        `import json, sys
from tiny_model import char_tokenizer, tiny_llama
tiny_llama(sys.argv[1], len(char_tokenizer(sys.argv[1])), seed=1)
print(json.dumps(True))`,
        model,
      );
      const pairs = await writePairs(dir, 6);
      const recipe = trainer({
        backend: 'local',
        python: heldPython(dir),
        saveSteps: 1,
        launcher: { kind: 'accelerate', numProcesses: 2, config: `deploy/trainer/accelerate/${config.file}` },
      });
      const activities = createTrainingActivities({ pollMs: 500 });
      const env = new MockActivityEnvironment();
      const models = { policyModel: model, referenceModel: model };
      const job = await runIn(
        env,
        activities.submitTraining,
        submitInput(dir, pairs, recipe, config.file, models),
      );
      const training = runIn(env, activities.awaitTraining, job);
      const first = join(job.outputDir, 'checkpoint-1');
      await until('checkpoint-1', () => existsSync(join(first, 'trainer_state.json')), 600_000);
      const ranks = () => processesWith(`-u ${join(job.jobDir, 'dpo.py')}`);
      const started = ranks();
      assert.equal(started.length, 2, 'two ranks train');
      process.kill(started[1]!, 'SIGKILL');
      const checkpoint = await training;

      const log = readFileSync(join(job.jobDir, 'train.log'), 'utf8');
      for (const rank of [0, 1]) {
        assert.match(log, new RegExp(`evolve-test: rank ${rank} runs ${config.distributed}\\n`));
      }
      assert.match(log, /evolve: rank \d killed by signal 9/);
      assert.match(log, new RegExp(`evolve: resuming from ${first}\\n`));
      const jobFile = JSON.parse(readFileSync(join(job.jobDir, 'job.json'), 'utf8')) as { attempt: number };
      assert.equal(jobFile.attempt, 2, 'relaunched once');
      const command = (
        JSON.parse(readFileSync(join(job.jobDir, 'recipe.json'), 'utf8')) as { command: string[] }
      ).command.join(' ');
      const copy = join(job.jobDir, 'accelerate.yaml');
      assert.ok(command.includes(`--config_file ${copy} --mixed_precision no`), 'fp32 on the CPU');
      assert.equal(
        readFileSync(copy, 'utf8'),
        readFileSync(`deploy/trainer/accelerate/${config.file}`, 'utf8'),
        'the shipped config, as it is',
      );
      for (const step of [2, 3]) {
        const saved = join(job.outputDir, `checkpoint-${step}`);
        for (const file of config.sharded(step)) {
          assert.ok(existsSync(join(saved, file)), `checkpoint-${step} has ${file}`);
        }
        assert.ok(
          !existsSync(join(saved, 'optimizer.pt')),
          `checkpoint-${step} is not plain data parallel's`,
        );
      }
      const state = JSON.parse(
        readFileSync(join(job.outputDir, 'checkpoint-3', 'trainer_state.json'), 'utf8'),
      ) as { global_step: number };
      assert.equal(state.global_step, 3, '6 pairs, one per rank per step');
      assert.ok(!existsSync(join(job.outputDir, 'checkpoint-4')));

      // Gathered in full on save: every parameter of the tiny model, trained away from its start.
      const loaded = pythonJson(
        `import json, sys, torch
from transformers import AutoModelForCausalLM
trained = AutoModelForCausalLM.from_pretrained(sys.argv[1])
start = AutoModelForCausalLM.from_pretrained(sys.argv[2]).state_dict()
weights = trained.state_dict()
print(json.dumps({"names": sorted(weights) == sorted(start),
  "shapes": all(weights[k].shape == start[k].shape for k in start),
  "changed": sum(not torch.equal(weights[k], start[k]) for k in start),
  "finite": bool(trained(torch.tensor([[5, 6, 7]])).logits.isfinite().all())}))`,
        checkpoint.path,
        model,
      ) as { names: boolean; shapes: boolean; changed: number; finite: boolean };
      assert.ok(loaded.names && loaded.shapes, 'the saved model holds the whole tiny model');
      assert.ok(loaded.changed > 0, 'trained');
      assert.ok(loaded.finite);
      const manifest = CheckpointManifestSchema.parse(JSON.parse(readFileSync(checkpoint.manifest!, 'utf8')));
      assert.ok(Number.isFinite(manifest.metrics.train_loss));
      assert.equal(manifest.metrics.train_rows, 6);
      assert.deepEqual(ranks(), [], 'no rank outlives the job');
    },
  );
}
