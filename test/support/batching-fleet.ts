import { mulberry32 } from '../../core/random.js';

/**
 * A fleet of vLLM-like replicas under continuous batching, in simulated seconds (no timers: the
 * caller moves the clock, so the model can be tested without timing). Each replica has a fixed
 * token budget per second shared equally by its running sequences, at most `slots` of them (vLLM's
 * --max-num-seqs), none faster than one decode step per token allows; further requests wait in its
 * FIFO queue. A sequence's work is its prefill (prompt
 * tokens, cheaper per token by tokensPerSecond / prefillTokensPerSecond) plus its output tokens.
 */
export interface BatchingSpec {
  replicas: number;
  slots: number;
  /** Output tokens per second of one replica with every slot running. */
  tokensPerSecond: number;
  /**
   * The fastest one sequence decodes (a step reads every weight once): with few sequences running the
   * budget is not all used, so a fleet that runs half empty does half the work.
   */
  maxSequenceTokensPerSecond: number;
  /** Prompt tokens per second one replica prefills when it does nothing else. */
  prefillTokensPerSecond: number;
  /** Output lengths are lognormal: this median (tokens) and log standard deviation, capped at max_tokens. */
  medianTokens: number;
  sigma: number;
  /** Characters of reply text per token, and of prompt text per prompt token. */
  charsPerToken: number;
  /** Simulated seconds per wall second: > 1 runs the fleet faster than real hardware. */
  timeScale: number;
  seed?: number;
}

interface Sequence {
  /** Work left, in output-token units. */
  left: number;
  done: () => void;
}

class Replica {
  readonly running: Sequence[] = [];
  readonly queue: Sequence[] = [];
  constructor(private readonly spec: BatchingSpec) {}

  admit(): void {
    while (this.running.length < this.spec.slots && this.queue.length > 0)
      this.running.push(this.queue.shift()!);
  }

  /** Tokens per second of each running sequence: its share of the budget, at most one step's worth. */
  private rate(): number {
    return Math.min(this.spec.maxSequenceTokensPerSecond, this.spec.tokensPerSecond / this.running.length);
  }

  /** Simulated seconds until the next running sequence finishes, at the current share. */
  untilNextFinish(): number {
    if (this.running.length === 0) return Infinity;
    return Math.min(...this.running.map((s) => s.left)) / this.rate();
  }

  /** Decodes for `dt` seconds with no sequence finishing inside it; returns the finished ones at its end. */
  run(dt: number): Sequence[] {
    const each = dt * this.rate();
    const finished: Sequence[] = [];
    for (let i = this.running.length - 1; i >= 0; i--) {
      const s = this.running[i]!;
      s.left -= each;
      // Rounding must not leave a sequence a femtotoken short of done.
      if (s.left <= 1e-9) finished.push(...this.running.splice(i, 1));
    }
    this.admit();
    return finished.reverse();
  }
}

export interface FleetStats {
  requests: number;
  promptTokens: number;
  outputTokens: number;
  /** Requests whose drawn length hit max_tokens. */
  capped: number;
  /** Simulated seconds: first arrival, last arrival, last finish. */
  firstArrival: number;
  lastArrival: number;
  lastFinish: number;
  /** Integral of running sequences over time, all replicas: up to now, and up to the last arrival. */
  slotSeconds: number;
  slotSecondsToLastArrival: number;
}

export class BatchingFleet {
  private readonly replicas: Replica[];
  private readonly draw: () => number;
  private now = 0;
  readonly stats: FleetStats = {
    requests: 0,
    promptTokens: 0,
    outputTokens: 0,
    capped: 0,
    firstArrival: NaN,
    lastArrival: NaN,
    lastFinish: NaN,
    slotSeconds: 0,
    slotSecondsToLastArrival: 0,
  };

  constructor(readonly spec: BatchingSpec) {
    this.replicas = Array.from({ length: spec.replicas }, () => new Replica(spec));
    this.draw = mulberry32(spec.seed ?? 1);
  }

  /** A request's output length: lognormal around the median (Box-Muller), at least 1, at most `maxTokens`. */
  outputTokens(maxTokens: number): { tokens: number; capped: boolean } {
    const z = Math.sqrt(-2 * Math.log(1 - this.draw())) * Math.cos(2 * Math.PI * this.draw());
    const tokens = Math.max(1, Math.round(this.spec.medianTokens * Math.exp(this.spec.sigma * z)));
    if (tokens < maxTokens) return { tokens, capped: false };
    this.stats.capped++;
    return { tokens: maxTokens, capped: true };
  }

  /** Tokens of a prompt of `chars` characters. */
  promptTokens(chars: number): number {
    return Math.ceil(chars / this.spec.charsPerToken);
  }

  /** Moves every replica to simulated time `t`, calling `done` of each sequence as it finishes. */
  advance(t: number): void {
    for (;;) {
      const step = this.untilNextFinish();
      const dt = Math.min(step, t - this.now);
      if (dt <= 0) break;
      const finished: Sequence[] = [];
      for (const r of this.replicas) {
        this.stats.slotSeconds += dt * r.running.length;
        if (r.running.length > 0) finished.push(...r.run(dt));
      }
      this.now += dt;
      for (const s of finished) {
        this.stats.lastFinish = this.now;
        s.done();
      }
      if (step > dt) break;
    }
    this.now = Math.max(this.now, t);
  }

  /** A request arriving at `t` on replica `replica`; `done` is called when its last token is out. */
  submit(t: number, replica: number, promptTokens: number, outputTokens: number, done: () => void): void {
    this.advance(t);
    const { stats, spec } = this;
    if (stats.requests++ === 0) stats.firstArrival = t;
    stats.lastArrival = t;
    stats.slotSecondsToLastArrival = stats.slotSeconds;
    stats.promptTokens += promptTokens;
    stats.outputTokens += outputTokens;
    const prefill = (promptTokens * spec.tokensPerSecond) / spec.prefillTokensPerSecond;
    const r = this.replicas[replica]!;
    r.queue.push({ left: prefill + outputTokens, done });
    r.admit();
  }

  /** Simulated seconds until the next sequence finishes anywhere (Infinity when none runs). */
  untilNextFinish(): number {
    return Math.min(...this.replicas.map((r) => r.untilNextFinish()));
  }

  get time(): number {
    return this.now;
  }
}
