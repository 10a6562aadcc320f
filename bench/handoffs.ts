/**
 * Step hand-off times inside a worker: per shard, from the last reply of one step to the first request
 * of the next (to its start where it sends none: a verifier judges without requests), and how much of that is Temporal's (from one activity's return to the next one's start).
 * The shard steps' activities are wrapped to tag their requests with (shard, step) through async context.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Context } from '@temporalio/activity';
import type { ActivityDeps } from '../activities/index.js';
import type { ChatFn } from '../activities/inference.js';
import type { ShardRef } from '../core/steps.js';

type Step = 'sample' | 'refine' | 'judge';
interface Marks {
  /** The iteration and phase, such as "iter-1/train". */
  phase: string;
  start: number;
  end: number;
  firstRequest: number;
  lastReply: number;
}

export interface Handoffs {
  /** Per shard, ms: the step's last reply to the next step's first request (or start). */
  sampleToRefine: number[];
  /** The same by phase ("iter-1/train"). */
  sampleToRefineByPhase: Record<string, number[]>;
  refineToJudge: number[];
  /**
   * The sample -> refine hand-off in parts, per shard, ms: the last reply to sampleShard's return
   * (writing its output), that return to refineChain's start (Temporal), that start to its first request.
   */
  sampleFinish: number[];
  sampleDispatch: number[];
  refineSetup: number[];
  /** ms from the training phase's last judgeShard return to buildPairs' start. */
  judgeToPair: number | null;
  /**
   * ms from iteration 1's last reply to iteration 2's first request: the child workflow's end, the run's
   * continue-as-new and the next child's first step (null when the run has one iteration).
   */
  continueAsNew: number | null;
}

export function handoffRecorder() {
  const current = new AsyncLocalStorage<Marks>();
  const marks = new Map<string, Partial<Record<Step, Marks>>>();
  let pairStart: number | null = null;
  /** Per workflow (an iteration is a child workflow): its first request and last reply. */
  const byWorkflow = new Map<string, { firstRequest: number; lastReply: number }>();
  const workflowOf = () => {
    try {
      return Context.current().info.workflowExecution?.workflowId ?? null;
    } catch {
      return null; // not in an activity
    }
  };
  const shardKey = (shard: ShardRef) => `${shard.prompts.sha256}/${shard.index}`;

  /** The deps' clients, timing each request of a wrapped step. */
  const deps = (inner: ActivityDeps): ActivityDeps => ({
    ...inner,
    chatFor: (model) => {
      const chat = inner.chatFor(model);
      const timed: ChatFn = async (request) => {
        const m = current.getStore();
        const workflowId = workflowOf();
        const w =
          workflowId === null
            ? undefined
            : (byWorkflow.get(workflowId) ?? { firstRequest: Infinity, lastReply: NaN });
        if (workflowId !== null && w) byWorkflow.set(workflowId, w);
        const sent = performance.now();
        if (m) m.firstRequest = Math.min(m.firstRequest, sent);
        if (w) w.firstRequest = Math.min(w.firstRequest, sent);
        const reply = await chat(request);
        if (m) m.lastReply = performance.now();
        if (w) w.lastReply = performance.now();
        return reply;
      };
      return timed;
    },
  });

  /** An activity of a shard step, its times recorded under the shard. */
  const step =
    <I extends { shard: ShardRef; scope: { dir: string } }, O>(name: Step, fn: (input: I) => Promise<O>) =>
    async (input: I): Promise<O> => {
      const phase = input.scope.dir.split('/').slice(-3, -1).join('/');
      const m: Marks = { phase, start: performance.now(), end: NaN, firstRequest: Infinity, lastReply: NaN };
      const byStep = marks.get(shardKey(input.shard)) ?? {};
      marks.set(shardKey(input.shard), { ...byStep, [name]: m });
      try {
        return await current.run(m, () => fn(input));
      } finally {
        m.end = performance.now();
      }
    };

  const pairs =
    <I, O>(fn: (input: I) => Promise<O>) =>
    (input: I): Promise<O> => {
      pairStart ??= performance.now();
      return fn(input);
    };

  function result(): Handoffs {
    const all = [...marks.values()];
    const gaps = (from: Step, to: Step, at: (m: Marks) => number, next: (m: Marks) => number) =>
      all.flatMap((m) => (m[from] && m[to] ? [next(m[to]) - at(m[from])] : [])).filter(Number.isFinite);
    const firstRequest = (m: Marks) => (Number.isFinite(m.firstRequest) ? m.firstRequest : m.start);
    const judged = all.flatMap((m) => (m.judge ? [m.judge.end] : [])).filter(Number.isFinite);
    // The first buildPairs is the training phase's: its judges are the ones that returned before it.
    const before = judged.filter((t) => pairStart !== null && t <= pairStart);
    const iterations = [0, 1, 2].map((t) => [...byWorkflow].find(([id]) => id.endsWith(`/iter-${t}`))?.[1]);
    const sampleToRefineByPhase: Record<string, number[]> = {};
    for (const m of all)
      if (m.sample && m.refine)
        (sampleToRefineByPhase[m.sample.phase] ??= []).push(firstRequest(m.refine) - m.sample.lastReply);
    return {
      sampleToRefine: gaps('sample', 'refine', (m) => m.lastReply, firstRequest),
      sampleToRefineByPhase,
      refineToJudge: gaps('refine', 'judge', (m) => m.lastReply, firstRequest),
      sampleFinish: gaps(
        'sample',
        'sample',
        (m) => m.lastReply,
        (m) => m.end,
      ),
      sampleDispatch: gaps(
        'sample',
        'refine',
        (m) => m.end,
        (m) => m.start,
      ),
      refineSetup: gaps('refine', 'refine', (m) => m.start, firstRequest),
      judgeToPair: pairStart !== null && before.length > 0 ? pairStart - Math.max(...before) : null,
      continueAsNew:
        iterations[1] && iterations[2] ? iterations[2].firstRequest - iterations[1].lastReply : null,
    };
  }

  return { deps, step, pairs, result };
}
