import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeDemonstrations } from '../../client/stage-zero.js';
import { solvedArithmetic } from '../../core/arithmetic.js';
import { verifyNumeric } from '../../core/verify.js';
import { demoConfig } from '../support/config.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { scratchDir } from '../support/scratch.js';

const ASK = 'Answer in one line, for example: 20 - 7 = 13';
const spec = {
  count: 6,
  seed: 3000,
  maxOperand: 50,
  samples: 4,
  temperature: 1,
  maxTokens: 32,
  nearMisses: 1,
  keepRight: 0,
};

test("stage 0's demonstrations: y_w the short worked answer, y_l the sampled wrong answers and a near-miss", async (t) => {
  // The double answers right for even seeds and one too many for odd ones, over the OpenAI protocol.
  const server = await startFakeOpenAI();
  t.after(() => server.close());
  const out = join(scratchDir('evolve-stage0-', t), 'demos.jsonl');
  const problems = [...solvedArithmetic(spec.count, spec.seed, spec.maxOperand, 'stage0', ASK)];
  const excluded = problems[0]!.problem.prompt;
  const endpoint = { ...demoConfig().policy.endpoint, baseUrl: server.baseUrl };
  const made = await writeDemonstrations(spec, ASK, endpoint, 'base', new Set([excluded]), out);
  const rows = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map(
      (l) =>
        JSON.parse(l) as {
          prompt: { role: string; content: string }[];
          chosen: { role: string; content: string }[];
          rejected: { role: string; content: string }[];
        },
    );
  assert.equal(made.skipped, 1, 'a dev or test problem is never a demonstration');
  assert.ok(!rows.some((r) => r.prompt[0]!.content === excluded));
  assert.equal(made.triples, rows.length);
  // Each kept problem: its one distinct wrong answer (if any of its 4 seeds was odd) and one near-miss.
  assert.ok(made.sampledWrong >= 1 && made.sampledWrong <= 5, `${made.sampledWrong} sampled wrong`);
  assert.equal(rows.length, made.sampledWrong + 5);
  for (const { problem, solution } of problems.slice(1)) {
    const own = rows.filter((r) => r.prompt[0]!.content === problem.prompt);
    assert.ok(problem.prompt.endsWith(ASK));
    assert.ok(own.length >= 1, problem.id);
    for (const r of own) {
      assert.equal(r.chosen[0]!.content, solution);
      assert.match(solution, new RegExp(`^\\d+ [+-] \\d+ = ${problem.answer}$`));
      assert.equal(r.rejected[0]!.role, 'assistant');
      assert.ok(!verifyNumeric(r.rejected[0]!.content, problem.answer!).correct, r.rejected[0]!.content);
    }
    // The near-miss is y_w with only its final number changed.
    assert.ok(own.some((r) => r.rejected[0]!.content.startsWith(solution.replace(/\d+$/, ''))));
  }
});

test('maxWrong caps the sampled wrong answers kept per problem (0: near-misses only)', async (t) => {
  const server = await startFakeOpenAI();
  t.after(() => server.close());
  const out = join(scratchDir('evolve-stage0-', t), 'demos.jsonl');
  const endpoint = { ...demoConfig().policy.endpoint, baseUrl: server.baseUrl };
  const made = await writeDemonstrations({ ...spec, maxWrong: 0 }, ASK, endpoint, 'base', new Set(), out);
  assert.equal(made.sampledWrong, 0);
  assert.equal(made.triples, spec.count * spec.nearMisses);
  assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, made.triples);
});

test('keepRight adds demonstrations whose previous answer is already right (y_l = y_w)', async (t) => {
  const server = await startFakeOpenAI();
  t.after(() => server.close());
  const out = join(scratchDir('evolve-stage0-', t), 'demos.jsonl');
  const endpoint = { ...demoConfig().policy.endpoint, baseUrl: server.baseUrl };
  const made = await writeDemonstrations({ ...spec, keepRight: 1 }, ASK, endpoint, 'base', new Set(), out);
  const rows = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { chosen: { content: string }[]; rejected: { content: string }[] });
  assert.equal(made.keeps, spec.count);
  assert.equal(rows.filter((r) => r.rejected[0]!.content === r.chosen[0]!.content).length, spec.count);
  assert.equal(made.triples, made.sampledWrong + spec.count * (spec.nearMisses + 1));
});
