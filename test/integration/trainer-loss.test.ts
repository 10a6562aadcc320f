import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { pythonBin, requireInstalled } from '../support/paths.js';

// deploy/trainer/dpo.py's loss on the CPU (test/python/dpo_entry.py): the formulas against hand computations
// on tiny tensors, then the trainer on a tiny random Llama built there (no downloads) against log-probs
// computed independently: row weights, the NLL term, SRPO and the truncation counts.
test("evolve's DPO entry point computes the weighted DPO, NLL and SRPO losses as the formulas say", () => {
  const run = spawnSync(requireInstalled(pythonBin), ['test/python/dpo_entry.py'], {
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', HF_DATASETS_OFFLINE: '1' },
  });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  for (const check of [
    'loss functions: ok',
    'weighted dpo loss on a tiny model: ok',
    'nll term: ok',
    'truncation counted by kind: ok',
    'TRL loss options it does not apply are refused: ok',
    'srpo loss on a tiny model: ok',
  ]) {
    assert.ok(run.stdout.includes(check), `missing "${check}" in:\n${run.stdout}`);
  }
});
