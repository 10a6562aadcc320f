/**
 * `npm run bench:micro-candidates [-- --operands 9,20,50 --count 40 --max-tokens 48]`: the base model's
 * direct accuracy on generated arithmetic of each difficulty (maxOperand), through the model server of
 * the running embedded stack (`evolve up`), greedy, with the numeric verifier. The problems come from
 * the dev split's seed (deploy/configs/micro/experiment.yaml): choosing the task is a hyper-parameter
 * choice, so it never looks at the test split.
 */
import { parseArgs } from 'node:util';
import { openAIChat } from '../activities/inference.js';
import { loadConfigFile, loadPatchFile } from '../client/config-file.js';
import { arithmeticProblems } from '../core/arithmetic.js';
import { wilsonInterval } from '../core/metrics/wilson.js';
import { directContext } from '../core/templates.js';
import { verifyNumeric } from '../core/verify.js';
import { modelBaseUrl, stackSettings } from '../deploy/stack.js';

const { values } = parseArgs({
  options: {
    operands: { type: 'string', default: '9,20,50' },
    count: { type: 'string', default: '40' },
    'max-tokens': { type: 'string', default: '48' },
  },
});
const arm = loadConfigFile('deploy/configs/micro/evolve.yaml');
const dev = loadPatchFile('deploy/configs/micro/experiment.yaml').dev as { seed: number };
const chat = openAIChat({
  baseUrl: modelBaseUrl(stackSettings()),
  maxConcurrency: 1,
  requestTimeoutMs: 300_000,
});
const count = Number(values.count);
const maxTokens = Number(values['max-tokens']);
console.log(`| maxOperand | correct | direct accuracy [95 % Wilson] | s per answer |`);
console.log(`|---|---|---|---|`);
for (const maxOperand of values.operands.split(',').map(Number)) {
  let correct = 0;
  const started = Date.now();
  for (const problem of arithmeticProblems(count, dev.seed, maxOperand)) {
    const reply = await chat({
      model: arm.policy.baseModel,
      messages: directContext(problem),
      temperature: 0,
      maxTokens,
      seed: 0,
    });
    if (verifyNumeric(reply.text, problem.answer!).correct) correct++;
  }
  const { low, high } = wilsonInterval(correct, count);
  const pct = (x: number) => (100 * x).toFixed(1);
  const seconds = ((Date.now() - started) / 1000 / count).toFixed(1);
  console.log(
    `| ${maxOperand} | ${correct}/${count} | ${pct(correct / count)} [${pct(low)}, ${pct(high)}] | ${seconds} |`,
  );
}
