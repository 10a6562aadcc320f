/**
 * The chaos suite: one small EVOLVE iteration per case on a real Temporal dev server, a real worker process
 * and the real trainer, with the inference server played by the fault-injecting OpenAI server (the one part
 * whose requests must be counted). Each case breaks one thing at one step; its artifacts and the requests the
 * server received are compared with an undisturbed baseline run of the same config.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { connectClient, startRun, watchRun } from '../client/run.js';
import type { RunConfig } from '../core/config.js';
import {
  checkTemporal,
  readPid,
  stackDown,
  stackUp,
  startService,
  stackTemporal,
  type StackSettings,
} from '../deploy/stack.js';
import { tinyConfig } from '../test/support/config.js';
import { startFakeOpenAI, type FakeServer, type FaultPlan } from '../test/support/fake-openai.js';
import { privateStack } from '../test/support/private-stack.js';

/** Where in the iteration a fault strikes: the step's first journalled rows, or the step's start. */
export type Step = 'sample' | 'refine' | 'judge' | 'pair' | 'train' | 'serve' | 'evaluate';

export interface ChaosCase {
  name: string;
  /** The fault, and the step it waits for; none for the baseline. */
  fault?: { kind: 'worker-kill' | 'temporal-kill' | 'model-down'; at: Step; downMs?: number };
  /** Faults the server injects all along (5xx, stalls, malformed bodies, 429 bursts). */
  plan?: FaultPlan;
  /** The endpoints' outage budget for this case (time-scaled cases). */
  outageBudgetHours?: number;
}

export interface ChaosRow {
  name: string;
  fault: string;
  completed: boolean;
  wallS: number;
  /** Rows the baseline has that this run has not / rows written more than once, over every output. */
  lost: number;
  duplicated: number;
  /** Replies the client read whole and then asked for again: what a paid API bills twice. */
  paidTwice: number;
  /** Requests sent again after a failed, cut or abandoned reply (retries; billed at most once). */
  resent: number;
  /** From the end of the fault (service back) to the next activity that completed. */
  recoveryS: number | null;
  detail: string;
}

const REQUEST_TIMEOUT_MS = 5000;

/** The full matrix; `npm run chaos -- --cases a,b` picks some. */
export const CASES: ChaosCase[] = [
  { name: 'baseline' },
  ...(['sample', 'refine', 'judge', 'pair', 'train', 'serve', 'evaluate'] as const).map((at): ChaosCase => ({
    name: `worker-kill@${at}`,
    fault: { kind: 'worker-kill', at },
  })),
  { name: 'temporal-kill@refine', fault: { kind: 'temporal-kill', at: 'refine', downMs: 10_000 } },
  { name: 'model-down-2min', fault: { kind: 'model-down', at: 'sample', downMs: 120_000 } },
  {
    // At 1/5 of real time: the old limit (20 attempts at <= 1 min, ~18 min) is 3.6 min, the 24 h budget 4.8 h.
    name: 'model-down-4min-scaled',
    fault: { kind: 'model-down', at: 'sample', downMs: 240_000 },
    outageBudgetHours: 0.1,
  },
  {
    name: 'faults-mix',
    plan: {
      serverErrorRate: 0.1,
      stallRate: 0.05,
      stallMs: REQUEST_TIMEOUT_MS + 2000,
      malformedRate: 0.05,
      rateLimitBurst: { period: 25, length: 3, retryAfterS: 1 },
      seed: 11,
    },
  },
];

function caseConfig(c: ChaosCase, baseUrl: string, root: string, runId: string): RunConfig {
  const base = tinyConfig(baseUrl, root, runId);
  const endpoint = {
    ...base.policy.endpoint,
    maxConcurrency: 2,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    ...(c.outageBudgetHours ? { outageBudgetHours: c.outageBudgetHours } : {}),
  };
  return {
    ...base,
    policy: { ...base.policy, endpoint },
    // The open instructions have no gold answer: the LLM judge scores them, so the judge step sends requests.
    prompts: [
      { kind: 'arithmetic', count: 6, seed: 7, maxOperand: 9 },
      { kind: 'file', path: 'deploy/demo/instructions.jsonl' },
    ],
    shardSize: 5,
    sampling: { ...base.sampling, samples: 2, chainDepth: 2, maxTokens: 32 },
    judge: { ...base.judge, llm: { ...base.judge.llm!, endpoint } },
    evaluation: { ...base.evaluation, prompts: { kind: 'arithmetic', count: 6, seed: 1000, maxOperand: 9 } },
  };
}

/** Rows in a journal of `dir`, or an output there already (the step went by between two looks). */
const started = (dir: string) =>
  existsSync(dir) &&
  readdirSync(dir).some(
    (f) => f.endsWith('.jsonl') || (f.endsWith('.journal') && readFileSync(join(dir, f), 'utf8').length > 0),
  );

/** The steps of an iteration in the order it enters them (workflows/iteration.ts). */
const ITERATION_STEPS = ['sample-refine-judge', 'pair', 'train', 'serve', 'evaluate', 'done'];

/** Whether the run has reached `step`, seen from its artifacts and its current step. */
async function reached(step: Step, iterDir: string, current: () => Promise<string | null>): Promise<boolean> {
  switch (step) {
    case 'sample':
    case 'refine':
    case 'judge':
      return started(join(iterDir, 'train', step));
    case 'evaluate':
      return started(join(iterDir, 'eval', 'sample'));
    case 'train': {
      const dir = join(iterDir, 'train', 'checkpoint');
      return existsSync(dir) && readdirSync(dir).some((d) => existsSync(join(dir, d, 'job.json')));
    }
    default: {
      // A step of a second or less (pair, serve) may go by between two looks: then the fault strikes
      // just after it, and the row says which step the run was at.
      const now = await current();
      return now !== null && ITERATION_STEPS.indexOf(now) >= ITERATION_STEPS.indexOf(step);
    }
  }
}

/** A row or request with the run's own names (root, run id, job hash) taken out, so that runs compare. */
const normalise = (text: string, root: string, runId: string) =>
  text
    .replaceAll(root, '<root>')
    .replaceAll(runId, '<run>')
    .replace(/-dpo-[0-9a-f]{16}/g, '-dpo-<hash>');

/** Every output row (all but its latency), normalised, per output directory. */
function outputs(root: string, runId: string): Map<string, string[]> {
  const runDir = join(root, runId);
  const found = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'checkpoint') walk(path);
      } else if (entry.name.endsWith('.jsonl')) {
        const key = relative(runDir, path);
        const rows = readFileSync(path, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            const row = JSON.parse(line) as Record<string, unknown>;
            delete row.latencyMs; // the one field that differs between two runs of the same config
            return normalise(JSON.stringify(row), root, runId);
          });
        found.set(key, rows);
      }
    }
  };
  walk(runDir);
  return found;
}

/** Requests by what they ask, normalised. */
function normalised(counts: Map<string, number>, root: string, runId: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, n] of counts) {
    const k = normalise(key, root, runId);
    out.set(k, (out.get(k) ?? 0) + n);
  }
  return out;
}

const excess = (run: Map<string, number>, base: Map<string, number>) =>
  [...run].reduce((sum, [k, n]) => sum + Math.max(0, n - (base.get(k) ?? 0)), 0);

/** The first activity completed after `since`, over every workflow of the run. */
async function firstCompletionAfter(client: Client, runId: string, since: number): Promise<number | null> {
  let first: number | null = null;
  for await (const w of client.workflow.list()) {
    if (!w.workflowId.startsWith(runId)) continue;
    const history = await client.workflow.getHandle(w.workflowId, w.runId).fetchHistory();
    for (const e of history.events ?? []) {
      if (!e.activityTaskCompletedEventAttributes || !e.eventTime?.seconds) continue;
      const at = Number(e.eventTime.seconds) * 1000 + Math.floor((e.eventTime.nanos ?? 0) / 1e6);
      if (at > since && (first === null || at < first)) first = at;
    }
  }
  return first;
}

interface Baseline {
  rows: Map<string, string[]>;
  delivered: Map<string, number>;
  received: Map<string, number>;
}

export interface ChaosSuite {
  run(c: ChaosCase): Promise<ChaosRow>;
  close(): Promise<void>;
}

/** A private stack (Temporal dev server and worker process; no model server) that runs cases one by one. */
export async function chaosSuite(say: (line: string) => void, budgetMs = 20 * 60_000): Promise<ChaosSuite> {
  const settings: StackSettings = await privateStack('chaos', `chaos-${process.pid}`);
  await stackUp(settings, say, 180_000, ['temporal', 'worker']);
  const client = await connectClient(stackTemporal(settings));
  const root = mkdtempSync(join(tmpdir(), 'evolve-chaos-'));
  let baseline: Baseline | null = null;

  async function inflict(c: ChaosCase, fake: FakeServer): Promise<number> {
    const f = c.fault!;
    if (f.kind === 'worker-kill') {
      process.kill(readPid(settings, 'worker')!, 'SIGKILL');
      await sleep(500);
      startService(settings, 'worker');
      return Date.now();
    }
    if (f.kind === 'model-down') {
      fake.plan.down = true;
      await sleep(f.downMs!);
      fake.plan.down = false;
      return Date.now();
    }
    process.kill(readPid(settings, 'temporal')!, 'SIGKILL');
    await sleep(f.downMs!);
    startService(settings, 'temporal');
    for (let i = 0; i < 120 && !(await checkTemporal(settings)).ok; i++) await sleep(500);
    return Date.now();
  }

  async function run(c: ChaosCase): Promise<ChaosRow> {
    const runId = `chaos-${c.name.replace(/[^a-z0-9-]/g, '-')}-${Date.now().toString(36)}`;
    const fake = await startFakeOpenAI({ latencyMs: 400, ...c.plan });
    const config = caseConfig(c, fake.baseUrl, root, runId);
    const iterDir = join(root, runId, 'iter-1');
    const started = Date.now();
    const fault = c.fault
      ? `${c.fault.kind} at ${c.fault.at}`
      : c.plan
        ? 'injected faults all along'
        : 'none';
    try {
      const handle = await startRun(client, config, settings.taskQueue);
      const result = watchRun(client, handle, 1, (line) => say(`${c.name}: ${line}`));
      let faultEnd: number | null = null;
      let stepAtFault = '';
      if (c.fault) {
        const current = () =>
          client.workflow
            .getHandle(`${runId}/iter-1`)
            .query<{ step: string }>('progress')
            .then((p) => p.step)
            .catch(() => null);
        const deadline = Date.now() + budgetMs;
        while (!(await reached(c.fault.at, iterDir, current))) {
          if (Date.now() > deadline) throw new Error(`the run never reached ${c.fault.at}`);
          await sleep(100);
        }
        stepAtFault = (await current()) ?? '?';
        say(`${c.name}: ${fault} (run at ${stepAtFault})`);
        faultEnd = await inflict(c, fake); // the client's connection reconnects by itself
      }
      const timeout = new AbortController();
      const outcome = await Promise.race([
        result.then(() => true),
        sleep(budgetMs, false, { signal: timeout.signal }),
      ])
        .catch((err: Error) => {
          say(`${c.name}: failed: ${err.message}`);
          return false;
        })
        .finally(() => timeout.abort());
      const wallS = (Date.now() - started) / 1000;
      const rows = outputs(root, runId);
      const delivered = normalised(fake.requests.delivered, root, runId);
      const received = normalised(fake.requests.received, root, runId);
      if (!c.fault && !c.plan && outcome) baseline = { rows, delivered, received };
      const base = baseline ?? (c.fault || c.plan ? null : { rows, delivered, received });
      if (!base) throw new Error('no baseline to compare with: the baseline case runs first, and completes');
      let lost = 0;
      let duplicated = 0;
      const where: string[] = [];
      for (const [file, keys] of base.rows) {
        const have = new Set(rows.get(file) ?? []);
        const missing = new Set(keys.filter((k) => !have.has(k))).size;
        if (missing > 0) where.push(`${file}: ${missing} lost`);
        lost += missing;
      }
      for (const [file, keys] of rows) {
        const twice = keys.length - new Set(keys).size;
        if (twice > 0) where.push(`${file}: ${twice} duplicated`);
        duplicated += twice;
      }
      const recovered = faultEnd === null ? null : await firstCompletionAfter(client, runId, faultEnd);
      return {
        name: c.name,
        fault: stepAtFault ? `${fault} (step ${stepAtFault})` : fault,
        completed: outcome,
        wallS,
        lost,
        duplicated,
        paidTwice: excess(delivered, base.delivered),
        resent: excess(received, base.received),
        recoveryS: recovered === null || faultEnd === null ? null : (recovered - faultEnd) / 1000,
        detail: [
          `${fake.requests.total} requests, ${fake.requests.failed} failed, ${fake.requests.abandoned} abandoned`,
          ...where,
        ].join('; '),
      };
    } finally {
      await fake.close();
      rmSync(join(root, runId, 'iter-1', 'train', 'checkpoint'), { recursive: true, force: true });
    }
  }

  return {
    run,
    async close() {
      await client.connection.close().catch(() => undefined);
      await stackDown(settings, say);
      rmSync(root, { recursive: true, force: true });
      rmSync(settings.stateDir, { recursive: true, force: true });
    },
  };
}
