import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import OpenAI from 'openai';
import { writeJsonlWithManifest } from '../../storage/jsonl-writer.js';
import { createGenerationActivities } from '../../activities/generate.js';
import { openAIChat, retryAfterMs, type ChatFn } from '../../activities/inference.js';
import { outages } from '../../activities/outage.js';
import { arithmeticProblems } from '../../core/arithmetic.js';
import { EndpointSchema, type Endpoint } from '../../core/config.js';
import type { GenerationRecord, Manifest } from '../../core/records.js';
import { startFakeOpenAI, type FakeServer, type FaultPlan } from '../support/fake-openai.js';
import { until } from '../support/until.js';

// Real HTTP servers on loopback that inject faults; the real client and the real generation activities.
const servers: FakeServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function server(plan: FaultPlan = {}): Promise<FakeServer> {
  const s = await startFakeOpenAI(plan);
  servers.push(s);
  return s;
}

/** A base URL nothing listens on: connections are refused. */
async function deadUrl(): Promise<string> {
  const s = await startFakeOpenAI();
  await s.close();
  return s.baseUrl;
}

const endpoint = (fields: Record<string, unknown>): Endpoint => EndpointSchema.parse(fields);
const request = (seed: number) => ({
  model: 'm',
  messages: [{ role: 'user' as const, content: 'What is 2 more than 3?' }],
  temperature: 1,
  maxTokens: 16,
  seed,
});

async function promptsManifest(dir: string, count: number): Promise<Manifest> {
  return writeJsonlWithManifest(join(dir, 'prompts.jsonl'), 'prompt', arithmeticProblems(count, 7, 9), {
    step: 'prompts',
    runId: 't',
    iteration: 1,
  });
}

/** sampleShard then refineChain over one shard, as the workflow runs them. */
async function sampleAndRefine(ep: Endpoint, prompts: number, samples: number, depth: number) {
  const dir = mkdtempSync(join(tmpdir(), 'evolve-inference-'));
  const manifest = await promptsManifest(dir, prompts);
  const chat = openAIChat(ep);
  const activities = createGenerationActivities({ chatFor: (): ChatFn => chat });
  const base = {
    shard: { index: 0, count: 1, prompts: manifest, start: 0, end: manifest.rows },
    policy: { endpoint: ep, model: 'm' },
    params: { samples, temperature: 1, topP: 1, maxTokens: 32, seed: 5 },
  };
  const env = new MockActivityEnvironment();
  const answers: Manifest = await env.run(activities.sampleShard, {
    ...base,
    scope: { runId: 't', iteration: 1, dir: join(dir, 'sample'), indexes: [join(dir, 'cas')] },
  });
  const refined: Manifest | null =
    depth > 1
      ? await env.run(activities.refineChain, {
          ...base,
          scope: { runId: 't', iteration: 1, dir: join(dir, 'refine'), indexes: [join(dir, 'cas')] },
          answers,
          chainDepth: depth,
          refinement: { template: 'multi-turn' as const, instruction: 'Check and improve your answer.' },
        })
      : null;
  return { answers, refined };
}

test('an endpoint sees at most maxConcurrency requests, across callers', async () => {
  const s = await server({ latencyMs: 5 });
  const chat = openAIChat(endpoint({ baseUrl: s.baseUrl, maxConcurrency: 3 }));
  await Promise.all([0, 1].map(() => Promise.all(Array.from({ length: 20 }, (_, i) => chat(request(i))))));
  assert.equal(s.requests.served, 40);
  assert.equal(s.requests.peakInFlight, 3);
});

test('a burst of requests spreads over the replicas, not onto the least busy one', async () => {
  // Replies take 2 s: the three first requests stay in flight across several looks of `until`.
  const replicas = await Promise.all([0, 1, 2, 3].map(() => server({ latencyMs: 2000 })));
  const chat = openAIChat(endpoint({ baseUrls: replicas.map((r) => r.baseUrl), maxConcurrency: 16 }));
  // One request each on three replicas, then eight picking in the same tick (as a shard's first
  // requests do): counted only after they resume, all eight saw the fourth replica least busy.
  const first = Promise.all([0, 1, 2].map((i) => chat(request(i))));
  await until(
    'three requests in flight',
    () => replicas.filter((r) => r.requests.inFlight === 1).length === 3,
  );
  await Promise.all([first, ...Array.from({ length: 8 }, (_, i) => chat(request(10 + i)))]);
  const peaks = replicas.map((r) => r.requests.peakInFlight);
  assert.ok(Math.max(...peaks) <= 3, `peak requests in flight per replica: ${peaks.join(', ')}`);
});

test('replicas: a dead and a broken replica are ejected, traffic moves, every record is written', async () => {
  const broken = await server({ down: true });
  const healthy = await server();
  const ep = endpoint({
    baseUrls: [await deadUrl(), broken.baseUrl, healthy.baseUrl],
    maxConcurrency: 6,
    ejectCooldownMs: 60_000,
  });
  const { answers } = await sampleAndRefine(ep, 24, 3, 1);
  assert.equal(answers.rows, 24 * 3);
  assert.equal(healthy.requests.served, 24 * 3, 'the healthy replica served everything');
  // Three failures in a row eject a replica; requests already in flight to it may fail too.
  assert.ok(broken.requests.total <= 3 + 6, `broken replica got ${broken.requests.total} requests`);
});

test('an ejected replica gets traffic again once a probe after its cooldown succeeds', async () => {
  const flaky = await server({ down: true });
  const steady = await server();
  const chat = openAIChat(endpoint({ baseUrls: [flaky.baseUrl, steady.baseUrl], ejectCooldownMs: 1500 }));
  for (let i = 0; i < 10; i++) await chat(request(i));
  assert.equal(flaky.requests.total, 3, 'ejected after three failures');
  flaky.plan.down = false;
  await new Promise((r) => setTimeout(r, 1600));
  for (let i = 0; i < 20; i++) await chat(request(i));
  assert.ok(flaky.requests.served >= 8, `revived replica served ${flaky.requests.served} of 20`);
});

test('a 429 keeps its replica idle for the Retry-After it names', async () => {
  const s = await server({ rateLimitBurst: { period: 5, length: 1, retryAfterS: 1 } });
  const chat = openAIChat(endpoint({ baseUrl: s.baseUrl, maxConcurrency: 1 }));
  const started = Date.now();
  for (let i = 0; i < 10; i++) await chat(request(i));
  assert.equal(s.requests.served, 10);
  assert.equal(s.requests.failed, 2, 'requests 5 and 10 were rate limited');
  assert.equal(s.requests.early, 0, 'nothing was sent inside a Retry-After window');
  assert.ok(Date.now() - started >= 2000, 'two one-second waits');
});

test('requests leave no listener on the caller signal, and its abort still cancels a request in flight', async () => {
  const s = await server({ latencyMs: 300 });
  const chat = openAIChat(endpoint({ baseUrl: s.baseUrl, maxConcurrency: 8 }));
  const activity = new AbortController();
  await Promise.all(Array.from({ length: 20 }, (_, i) => chat({ ...request(i), signal: activity.signal })));
  assert.equal(s.requests.served, 20);
  assert.equal(getEventListeners(activity.signal, 'abort').length, 0);
  const pending = chat({ ...request(21), signal: activity.signal });
  setTimeout(() => activity.abort(), 50);
  await assert.rejects(pending, OpenAI.APIUserAbortError);
  assert.equal(s.requests.served, 20);
});

test('Retry-After is read in milliseconds, seconds or as an HTTP date', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(retryAfterMs(new Headers({ 'retry-after-ms': '250' }), now), 250);
  assert.equal(retryAfterMs(new Headers({ 'retry-after': '2' }), now), 2000);
  assert.equal(retryAfterMs(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }), now), 3000);
  assert.equal(retryAfterMs(new Headers({}), now), null);
});

test('10 % 5xx, 5 % timeouts and 429 bursts: sample and refine complete with every record', async () => {
  const s = await server({
    serverErrorRate: 0.1,
    stallRate: 0.05,
    stallMs: 1500,
    rateLimitBurst: { period: 60, length: 6, retryAfterS: 1 },
    seed: 3,
  });
  const ep = endpoint({ baseUrl: s.baseUrl, maxConcurrency: 8, requestTimeoutMs: 1000 });
  const { answers, refined } = await sampleAndRefine(ep, 30, 2, 3);
  assert.equal(answers.rows, 30 * 2);
  assert.equal(refined!.rows, 30 * 2 * 2);
  assert.ok(s.requests.failed >= 20, `${s.requests.failed} 5xx/429 injected`);
  assert.ok(s.requests.abandoned > 0, 'some requests timed out');
  assert.equal(s.requests.served, 30 * 2 * 3, 'one completed reply per record');
});

test('with supportsN, one request carries all N samples of a prompt', async () => {
  const s = await server({ honoursN: true });
  const { answers } = await sampleAndRefine(endpoint({ baseUrl: s.baseUrl, supportsN: true }), 5, 4, 1);
  assert.equal(answers.rows, 20);
  assert.equal(s.requests.total, 5);
  assert.equal(s.requests.lastBody?.n, 4);
});

test('supportsN against a server that ignores n fails at once, naming the setting', async () => {
  const s = await server();
  await assert.rejects(
    sampleAndRefine(endpoint({ baseUrl: s.baseUrl, supportsN: true }), 2, 4, 1),
    /ignores `n`, set supportsN: false/,
  );
  assert.ok(s.requests.total <= 2, 'not retried');
});

test('extraBody fields reach the server; a 400 fails without retry, with the server message', async () => {
  const s = await server();
  const chat = openAIChat(endpoint({ baseUrl: s.baseUrl, extraBody: { top_k: 20, stop_token_ids: [2] } }));
  await chat(request(1));
  assert.equal(s.requests.lastBody?.top_k, 20);
  assert.deepEqual(s.requests.lastBody?.stop_token_ids, [2]);
  s.plan.badRequest = 'max_tokens is too large';
  await assert.rejects(chat(request(2)), (err: Error & { nonRetryable?: boolean }) => {
    assert.match(err.message, /answered 400: .*max_tokens is too large/);
    assert.equal(err.nonRetryable, true);
    return true;
  });
  assert.equal(s.requests.total, 2);
});

test('suspicious refinements are flagged in the record and counted in the manifest, never dropped', async () => {
  const s = await server({
    refinementReply: { text: "I'm sorry, I cannot improve on", finishReason: 'length' },
  });
  const { refined } = await sampleAndRefine(endpoint({ baseUrl: s.baseUrl }), 3, 1, 2);
  const rows = readFileSync(refined!.uri, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as GenerationRecord);
  assert.equal(rows.length, 3);
  assert.ok(rows.every((r) => r.flags.includes('refused') && r.flags.includes('truncated')));
  assert.deepEqual(refined!.stats, { empty: 0, truncated: 3, unchanged: 0, refused: 3 });
});

test('a server down for longer than maxAttempts allows is waited out, and the wait is visible', async () => {
  const s = await server({ down: true });
  // Time-scaled: 2 attempts per request used to be the whole budget; the outage budget is 36 s here.
  const chat = openAIChat(endpoint({ baseUrl: s.baseUrl, maxAttempts: 2, outageBudgetHours: 0.01 }));
  const replies = Promise.all([1, 2, 3].map((seed) => chat(request(seed))));
  await until('several failed attempts', () => s.requests.failed >= 8, 30_000);
  const waiting = outages().find((line) => line.includes(s.baseUrl));
  assert.match(waiting ?? '', /^waiting for endpoint .* since \d\d:\d\d UTC, \d+ attempts; last: .*503/);
  s.plan.down = false;
  assert.equal((await replies).length, 3);
  assert.equal(s.requests.served, 3);
  assert.equal(
    outages().find((line) => line.includes(s.baseUrl)),
    undefined,
    'the wait is over',
  );
});

test('past its outage budget a request fails without retry, naming the budget', async () => {
  const s = await server({ down: true });
  const chat = openAIChat(endpoint({ baseUrl: s.baseUrl, maxAttempts: 2, outageBudgetHours: 0.0005 }));
  await assert.rejects(chat(request(1)), (err: Error & { nonRetryable?: boolean }) => {
    assert.match(
      err.message,
      /has been down since .*longer than its outage budget \(outageBudgetHours 0.0005\)/,
    );
    assert.equal(err.nonRetryable, true);
    return true;
  });
  assert.ok(s.requests.failed > 2, `${s.requests.failed} attempts, more than maxAttempts`);
});
