/**
 * `npm run bench:serve-engines [-- --prompts 128 --concurrency 32 --max-tokens 48 --rounds 2]`: the
 * micro-reproduction's generation on both CPU model servers side by side in one run: `transformers
 * serve --continuous-batching` and vLLM (deploy/vllm.sh), both on the base model, one OpenMP thread
 * each, started together and measured in alternating rounds so that both see the same machine load.
 * Each round sends the same arithmetic prompts (sampled, temperature 1) and prints seconds of wall
 * time per answer and output tokens per second. No per-request seeds by default (`--seeds` sends them):
 * vLLM 0.32 on CPU dies on seeded sampling under concurrency, and transformers serve ignores them.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import { startBatchingServers } from '../client/batching-servers.js';
import { arithmeticProblems } from '../core/arithmetic.js';
import { mapLimit } from '../core/concurrency.js';
import { directContext } from '../core/templates.js';
import { baseModelPath, modelServerCommand, stackSettings, vllmServerCommand } from '../deploy/stack.js';

const { values } = parseArgs({
  options: {
    prompts: { type: 'string', default: '128' },
    concurrency: { type: 'string', default: '32' },
    'max-tokens': { type: 'string', default: '48' },
    rounds: { type: 'string', default: '2' },
    seeds: { type: 'boolean', default: false },
  },
});
const settings = stackSettings();
const logDir = mkdtempSync(join(tmpdir(), 'evolve-serve-engines-'));
const engines = {
  'transformers serve --continuous-batching': (port: number) => modelServerCommand(settings, port, true),
  vLLM: (port: number) => vllmServerCommand(settings, port),
};
console.error(`starting both servers (logs in ${logDir}; each takes a minute or more to start)`);
const servers = await Promise.all(
  Object.values(engines).map((command, i) =>
    startBatchingServers(settings, 1, join(logDir, String(i)), [], (_, port) => command(port), 900_000),
  ),
);
const problems = arithmeticProblems(Number(values.prompts), 1, 50);
const model = baseModelPath(settings);

async function round(baseUrl: string): Promise<{ perAnswer: number; tokensPerS: number }> {
  const client = new OpenAI({ baseURL: baseUrl, apiKey: 'x', maxRetries: 0, timeout: 600_000 });
  const started = performance.now();
  const replies = await mapLimit(problems, Number(values.concurrency), (problem, i) =>
    client.chat.completions.create({
      model,
      messages: directContext(problem),
      temperature: 1,
      max_tokens: Number(values['max-tokens']),
      ...(values.seeds ? { seed: i } : {}),
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const tokens = replies.reduce((sum, r) => sum + (r.usage?.completion_tokens ?? 0), 0);
  return { perAnswer: seconds / problems.length, tokensPerS: tokens / seconds };
}

try {
  console.log(
    `${problems.length} prompts, ${values.concurrency} in flight, ${values['max-tokens']} tokens, one thread each\n`,
  );
  console.log('| server | round | s per answer | output tokens/s |');
  console.log('|---|---|---|---|');
  for (let r = 1; r <= Number(values.rounds); r++) {
    for (const [i, name] of Object.keys(engines).entries()) {
      const { perAnswer, tokensPerS } = await round(servers[i]!.urls[0]!);
      console.log(`| ${name} | ${r} | ${perAnswer.toFixed(2)} | ${tokensPerS.toFixed(0)} |`);
    }
  }
} finally {
  await Promise.all(servers.map((s) => s.stop()));
}
