import {
  Client,
  Connection,
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { codecsFromEnv } from '../codec/encryption.js';
import { ConfigError, replicaUrls, type RunConfig } from '../core/config.js';
import { secretScrubber } from '../core/redact.js';
import type { RunResult } from '../core/steps.js';
import { BaseModelKey, RunIdKey } from '../core/search-attributes.js';
import { suiteLine } from '../core/suites.js';
import { iterationProgressQuery, type IterationProgress } from '../workflows/control.js';
import type { evolveRun } from '../workflows/run.js';
import { accuracyLine, droppedNote, inFlightRows } from './inspect.js';
import type { TemporalConnectionSettings } from './temporal-connection.js';

/** A client that encrypts and decrypts payloads like the worker does when EVOLVE_CODEC_KEY is set. */
export async function connectClient(target: TemporalConnectionSettings): Promise<Client> {
  const payloadCodecs = codecsFromEnv();
  const { namespace, ...options } = target;
  const connection = await Connection.connect({ ...options, connectTimeout: 5000 }).catch((err: unknown) => {
    throw new Error(temporalDown(target.address, err));
  });
  return new Client({ connection, namespace, dataConverter: { payloadCodecs } });
}

/** What to tell an operator whose Temporal server does not answer. */
export const temporalDown = (address: string, err: unknown) =>
  `Temporal is not reachable at ${address} (${(err as Error).message}): start the stack with ` +
  '`npm run evolve -- up`, or set EVOLVE_TEMPORAL_PORT to where your Temporal server listens';

/** Temporal itself did not answer (as opposed to a run that failed). */
const unreachable = (err: unknown) =>
  err instanceof ServiceError || /UNAVAILABLE|Failed to connect|ECONNREFUSED/i.test(String(err));

/** How long `--wait` keeps reconnecting to a Temporal server that went away. */
const RECONNECT_MS = 30 * 60_000;

/**
 * The run's result, waiting out a Temporal server that is briefly down (a restart): the run itself is
 * durable, only this watcher lost its connection.
 */
async function resultThroughOutages(
  handle: WorkflowHandle<typeof evolveRun>,
  say: (line: string) => void,
): Promise<RunResult> {
  let downSince: number | null = null;
  for (;;) {
    try {
      return await handle.result();
    } catch (err) {
      if (!unreachable(err)) throw err;
      if (downSince === null) {
        downSince = Date.now();
        say(`Temporal is unreachable (${(err as Error).message}); reconnecting, the run goes on meanwhile`);
      } else if (Date.now() - downSince > RECONNECT_MS) throw err;
      await sleep(2000);
    }
  }
}

/** The config with its policy and LLM judge pointed at `baseUrl` (the embedded model server, wherever its port is). */
export function onModelServer(config: RunConfig, baseUrl: string): RunConfig {
  const llm = config.judge.llm;
  return {
    ...config,
    policy: { ...config.policy, endpoint: { ...config.policy.endpoint, baseUrl } },
    ...(llm && { judge: { ...config.judge, llm: { ...llm, endpoint: { ...llm.endpoint, baseUrl } } } }),
  };
}

/** Starts `evolveRun` with the config as its only argument: the same JSON the Temporal CLI would send. */
export async function startRun(
  client: Client,
  config: RunConfig,
  taskQueue: string,
  workflowId = config.runId,
) {
  // Search attributes are stored and indexed in the clear (no codec touches them), the memo and the
  // summaries are shown by the UI: they pass the redaction (core/redact.ts) as the run's own do.
  const scrub = secretScrubber();
  const options = {
    taskQueue,
    workflowId,
    args: [config] as [RunConfig],
    // A failed, cancelled or terminated run may start again under its id (its finished steps are
    // reused); a completed one may not: its id names those results.
    workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY' as const,
    staticSummary: scrub(
      `EVOLVE run ${config.runId}: ${config.iterations} iteration(s) of ${config.policy.baseModel}`,
    ),
    staticDetails: scrub(staticDetails(config)),
    typedSearchAttributes: [
      { key: RunIdKey, value: config.runId },
      { key: BaseModelKey, value: scrub(config.policy.baseModel) },
    ],
    memo: { artifactRoot: scrub(config.artifactRoot) },
  };
  try {
    return await client.workflow.start<typeof evolveRun>('evolveRun', options);
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const existing = await client.workflow.getHandle(workflowId).describe();
    if (existing.status.name === 'RUNNING') throw err;
    throw new ConfigError(
      `run ${workflowId} already completed (${existing.closeTime?.toISOString() ?? 'closed'}): its id names its results. ` +
        `To run it again, start a new run that reuses its finished steps: --run-id <new id> --resume-from ${workflowId}`,
    );
  }
}

/** The run's fixed facts for the UI's details panel (Temporal markdown). */
function judgeName(judge: RunConfig['judge']): string {
  if (judge.kind === 'llm') return `\`${judge.llm?.model}\` (${judge.llm?.mode})`;
  if (judge.kind === 'reward-model') return `reward model (${judge.rewardModel?.api})`;
  return `none (verifier ${judge.verifier} only)`;
}

function staticDetails(c: RunConfig): string {
  return [
    `**EVOLVE run** \`${c.runId}\`: ${c.iterations} iteration(s), artifacts under \`${c.artifactRoot}\``,
    `- policy: \`${c.policy.baseModel}\` at ${replicaUrls(c.policy.endpoint).join(', ')}`,
    `- sampling: N=${c.sampling.samples}, K=${c.sampling.chainDepth}, temperature ${c.sampling.temperature}`,
    `- judge: ${judgeName(c.judge)}, pairing ${c.pairing.rule} (margin ${c.pairing.margin})`,
    `- trainer: ${c.trainer.backend} DPO, beta ${c.trainer.beta}, lr ${c.trainer.learningRate}, ${c.trainer.device}`,
  ].join('\n');
}

/** Polls the running iteration's progress query until the run ends; prints a line when something changes. */
export async function watchRun(
  client: Client,
  handle: WorkflowHandle<typeof evolveRun>,
  iterations: number,
  say: (line: string) => void,
): Promise<RunResult> {
  const result = resultThroughOutages(handle, say);
  let done = false;
  void result.finally(() => (done = true)).catch(() => undefined);
  let last = '';
  const started = Date.now();
  while (!done) {
    for (let t = iterations; t >= 0; t--) {
      const progress = await client.workflow
        .getHandle(`${handle.workflowId}/iter-${t}`)
        .query(iterationProgressQuery)
        .catch(() => null); // not started yet, or already gone: look at the previous iteration
      if (!progress) continue;
      const running = await client.workflow
        .getHandle(`${handle.workflowId}/iter-${t}`)
        .describe()
        .then((d) => inFlightRows(client, d))
        .catch(() => null);
      const line = describe(progress) + (running ? `: ${running}` : '');
      if (line !== last) say(`[${Math.round((Date.now() - started) / 1000)}s] ${line}`);
      last = line;
      break;
    }
    await Promise.race([result.catch(() => undefined), sleep(2000)]);
  }
  return result;
}

function describe(p: IterationProgress): string {
  const shards =
    p.shards > 0 && p.step === 'sample-refine-judge' ? ` (${p.shardsDone}/${p.shards} shards)` : '';
  return `iteration ${p.iteration}: ${p.step}${shards}${p.paused ? ' (paused)' : ''}`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export function summaryTable(result: RunResult): string {
  const lines = [`run ${result.runId} (config ${result.configHash})`, ''];
  // Time is each step's activity time, summed over its shards (shards of different steps overlap).
  lines.push(['iter', 'step', 'rows', 'time', 'artifact'].join('\t'));
  const stage0 = result.stage0 ? [{ iteration: 0, steps: [result.stage0] }] : [];
  for (const it of [...stage0, ...result.iterations]) {
    for (const s of it.steps) {
      const time = s.reused ? 'reused' : seconds(s.wallMs);
      lines.push([it.iteration, s.step, `${s.rows}${droppedNote(s)}`, time, s.uri].join('\t'));
    }
  }
  lines.push('');
  if (result.stoppedAfter !== undefined) lines.push(`stopped after iteration ${result.stoppedAfter}`);
  if (result.unapplied)
    lines.push(
      `config changes accepted but never applied: ${result.unapplied.changes.join(', ')} (evolve show ${result.runId} --unapplied-config)`,
    );
  for (const it of result.iterations) {
    const s = it.evaluation.strategy;
    const how = s ? ` (${s.name}, N=${s.samples} K=${s.depth}, keep ${s.keep})` : '';
    lines.push(
      `iteration ${it.iteration} evaluation${how} on ${it.evaluation.prompts} held-out prompts: ${accuracyLine(it.evaluation.accuracy)}`,
    );
    for (const suite of it.suites ?? []) lines.push(`iteration ${it.iteration} suite ${suiteLine(suite)}`);
    lines.push(
      it.iteration === 0
        ? `iteration 0 is the initial policy ${it.checkpoint}, evaluated before training`
        : `iteration ${it.iteration} checkpoint: ${it.checkpoint}`,
    );
    if (it.keptBest) {
      const { iteration, score, regressedTo } = it.keptBest;
      lines.push(
        `iteration ${it.iteration} regressed (${regressedTo} < ${score}): the next policy is iteration ${iteration}'s checkpoint`,
      );
    }
  }
  return lines.join('\n');
}
