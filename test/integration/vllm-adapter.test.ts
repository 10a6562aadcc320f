import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createTrainingActivities } from '../../activities/training/index.js';
import { CheckpointManifestSchema } from '../../core/checkpoint.js';
import { baseModel, pythonBin, requireInstalled } from '../support/paths.js';
import { runIn, submitInput, trainer, writePairs } from '../support/training.js';

/**
 * Logits on one prompt of each model: `[dir]` a full model, `[base, adapter]` base + LoRA (as vLLM
 * serves it). Prints the largest absolute difference of each model's logits to the first one's.
 */
const COMPARE = `import json, sys, torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
ids = tok("What is 2 plus 3?", return_tensors="pt").input_ids
def logits(spec):
    model = AutoModelForCausalLM.from_pretrained(spec[0], dtype=torch.float32)
    if len(spec) > 1: model = PeftModel.from_pretrained(model, spec[1])
    with torch.no_grad(): return model.eval()(ids).logits
models = [logits(spec) for spec in json.loads(sys.argv[2])]
print(json.dumps([(m - models[0]).abs().max().item() for m in models[1:]]))`;

function maxDiffs(python: string, models: string[][]): number[] {
  const out = execFileSync(python, ['-c', COMPARE, baseModel, JSON.stringify(models)], {
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' },
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as number[];
}

// Real `trl dpo --use_peft` twice on the CPU with the tiny model: pi_1 from the base, pi_2 from merged
// pi_1. A learning rate large enough that each adapter moves the logits well past the tolerance.
test('two LoRA iterations: base + the served adapter of pi_2 computes merged pi_2', async (t) => {
  const python = requireInstalled(pythonBin);
  const dir = mkdtempSync(join(tmpdir(), 'evolve-vllm-adapter-'));
  t.after(() => rmSync(dir, { recursive: true, force: true })); // checkpoints are GBs
  const pairs = await writePairs(dir, 2);
  const activities = createTrainingActivities({ pollMs: 500 });
  const env = new MockActivityEnvironment();
  const config = trainer({ backend: 'local', python, learningRate: 1e-3, lora: { r: 4, alpha: 8 } });

  const job1 = await runIn(env, activities.submitTraining, submitInput(dir, pairs, config, 'pi1'));
  const pi1 = await runIn(env, activities.awaitTraining, job1);
  assert.equal(pi1.servedAdapter, join(job1.jobDir, 'vllm-adapter'));
  const job2 = await runIn(
    env,
    activities.submitTraining,
    submitInput(dir, pairs, config, 'pi2', { policyModel: pi1.path, referenceModel: pi1.path }),
  );
  const pi2 = await runIn(env, activities.awaitTraining, job2);
  const served = join(job2.jobDir, 'vllm-adapter');
  assert.equal(pi2.servedAdapter, served);
  assert.equal(
    CheckpointManifestSchema.parse(JSON.parse(readFileSync(pi2.manifest!, 'utf8'))).servedAdapter,
    served,
  );

  const adapterConfig = JSON.parse(readFileSync(join(served, 'adapter_config.json'), 'utf8')) as {
    r: number;
    base_model_name_or_path: string;
  };
  assert.equal(adapterConfig.r, 8, 'rank r * t');
  assert.equal(adapterConfig.base_model_name_or_path, baseModel, 'an adapter over the base vLLM runs');

  const tolerance = 1e-3;
  const [served2, merged1, ownOnly] = maxDiffs(python, [
    [pi2.path],
    [baseModel, served],
    [pi1.path],
    [baseModel, job2.outputDir],
  ]);
  t.diagnostic(
    `max |logit diff| to merged pi_2: base+served ${served2}, pi_1 ${merged1}, base+A_2 ${ownOnly}`,
  );
  assert.ok(served2! < tolerance, `base + served adapter vs merged pi_2: max |logit diff| ${served2}`);
  // The check can fail: pi_2's own step, and pi_1's part, each change the logits far more.
  assert.ok(merged1! > 10 * tolerance, `pi_1 vs pi_2: ${merged1}`);
  assert.ok(ownOnly! > 10 * tolerance, `base + A_2 alone vs pi_2: ${ownOnly}`);
});
