/**
 * Step hand-off times inside a worker: per shard, from the last reply of one step to the first request
 * of the next (to its start where it sends none: a verifier judges without requests), and how much of that is Temporal's (from one activity's return to the next one's start).
 * The shard steps' activities are wrapped to tag their requests with (shard, step) through async context.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ActivityDeps } from '../activities/index.js';
import type { ChatFn } from '../activities/inference.js';
import type { ShardRef } from '../core/steps.js';

type Step = 'sample' | 'refine' | 'judge';
interface Marks {
  start: number;
  end: number;
  firstRequest: number;
  lastReply: number;
}

export interface Handoffs {
  /** Per shard, ms: the step's last reply to the next step's first request (or start). */
  sampleToRefine: number[];
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
}

export function handoffRecorder() {
  const current = new AsyncLocalStorage<Marks>();
  const marks = new Map<string, Partial<Record<Step, Marks>>>();
  let pairStart: number | null = null;
  const shardKey = (shard: ShardRef) => `${shard.prompts.sha256}/${shard.index}`;

  /** The deps' clients, timing each request of a wrapped step. */
  const deps = (inner: ActivityDeps): ActivityDeps => ({
    ...inner,
    chatFor: (model) => {
      const chat = inner.chatFor(model);
      const timed: ChatFn = async (request) => {
        const m = current.getStore();
        if (m) m.firstRequest = Math.min(m.firstRequest, performance.now());
        const reply = await chat(request);
        if (m) m.lastReply = performance.now();
        return reply;
      };
      return timed;
    },
  });

  /** An activity of a shard step, its times recorded under the shard. */
  const step =
    <I extends { shard: ShardRef }, O>(name: Step, fn: (input: I) => Promise<O>) =>
    async (input: I): Promise<O> => {
      const m: Marks = { start: performance.now(), end: NaN, firstRequest: Infinity, lastReply: NaN };
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
    return {
      sampleToRefine: gaps('sample', 'refine', (m) => m.lastReply, firstRequest),
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
    };
  }

  return { deps, step, pairs, result };
}
