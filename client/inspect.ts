import type { Client, QueryDefinition, WorkflowExecutionDescription } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/index.js';
import { IterationKey, StatusKey } from '../core/search-attributes.js';
import { runStatusQuery, type RunStatus } from '../workflows/control.js';
import type { RunResult, StepReport } from '../core/steps.js';
import { suiteLine } from '../core/suites.js';
import { iterationProgressQuery, type IterationProgress } from '../workflows/control.js';
import { rootCause } from './errors.js';
import { formatTable } from '../core/table.js';

/** Queries are answered by a worker; without one the server would hold the call for a minute. */
const QUERY_TIMEOUT_MS = 5_000;
const TASK_QUEUE_TYPE_WORKFLOW = 1; // temporal.api.enums.v1.TaskQueueType

/**
 * A query's answer, or null. When it got none, `notes` learns why if the reason is that no worker polls
 * the run's task queue (the usual one: the worker is down).
 */
async function queryOrWhy<T>(
  client: Client,
  workflowId: string,
  query: QueryDefinition<T>,
  taskQueue: string,
  notes: Set<string>,
): Promise<T | null> {
  try {
    return await client.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () =>
      client.workflow.getHandle(workflowId).query(query),
    );
  } catch {
    const described = await client.workflowService
      .describeTaskQueue({
        namespace: client.options.namespace,
        taskQueue: { name: taskQueue },
        taskQueueType: TASK_QUEUE_TYPE_WORKFLOW,
      })
      .catch(() => null);
    if (described && !described.pollers?.length)
      notes.add(
        `no worker is polling task queue "${taskQueue}": progress and status need one (start it: npm run build && npm run worker)`,
      );
    return null;
  }
}

/** `[#####.....] 3/6` */
export function bar(done: number, total: number, width = 20): string {
  const filled = total > 0 ? Math.round((Math.min(done, total) / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

/** `direct 30.0%, refine@1 40.0%` */
export const accuracyLine = (accuracy: number[]) =>
  accuracy.map((a, r) => `${r === 0 ? 'direct' : `refine@${r}`} ${(a * 100).toFixed(1)}%`).join(', ');

/** ` (dropped: droppedContaminated 3)`, or nothing when the step dropped no row. */
export const droppedNote = (step: StepReport) =>
  step.dropped
    ? ` (dropped: ${Object.entries(step.dropped)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')})`
    : '';

/** The visibility query that finds a run and its iterations (the same text works in the UI's filter box). */
export const runQuery = (runId: string) => `EvolveRunId = "${runId}"`;

export interface RunRow {
  workflowId: string;
  temporalStatus: string;
  evolveStatus: string;
  iteration: string;
  started: string;
}

/** Runs (not their iterations), newest first, found through visibility. */
export async function listRuns(client: Client, extraQuery?: string, limit = 50): Promise<RunRow[]> {
  const query = ['WorkflowType = "evolveRun"', extraQuery && `(${extraQuery})`].filter(Boolean).join(' AND ');
  const rows: RunRow[] = [];
  for await (const info of client.workflow.list({ query, pageSize: limit })) {
    rows.push({
      workflowId: info.workflowId,
      temporalStatus: info.status.name,
      evolveStatus: info.typedSearchAttributes.get(StatusKey) ?? '-',
      iteration: String(info.typedSearchAttributes.get(IterationKey) ?? '-'),
      started: info.startTime.toISOString().replace(/\.\d+Z$/, 'Z'),
    });
    if (rows.length >= limit) break;
  }
  return rows;
}

/** Rows of named cells as a text table, the first row's keys as its header. */
export function recordTable(rows: Record<string, string>[]): string {
  if (rows.length === 0) return '';
  const keys = Object.keys(rows[0]!);
  return formatTable(
    keys,
    rows.map((r) => keys.map((k) => r[k]!)),
  );
}

/**
 * Rows done / to do of the shard activities running now, summed per activity type from their heartbeats
 * (e.g. "refineChain 41/96 rows, judgeShard 12/48 rows"); null when none reports rows.
 */
export async function inFlightRows(
  client: Client,
  description: WorkflowExecutionDescription,
): Promise<string | null> {
  const per = new Map<string, { done: number; total: number }>();
  for (const a of description.raw.pendingActivities ?? []) {
    const details = await decodeFromPayloadsAtIndex<{ done?: unknown; total?: unknown }>(
      client.options.loadedDataConverter,
      0,
      a.heartbeatDetails?.payloads,
    ).catch(() => undefined);
    if (typeof details?.done !== 'number' || typeof details.total !== 'number') continue;
    const name = a.activityType?.name ?? 'activity';
    const sum = per.get(name) ?? { done: 0, total: 0 };
    per.set(name, { done: sum.done + details.done, total: sum.total + details.total });
  }
  if (per.size === 0) return null;
  // By name: the server lists pending activities in no fixed order, and a flip is not progress.
  return [...per]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, { done, total }]) => `${name} ${done}/${total} rows`)
    .join(', ');
}

/** The newest failure of a still-running activity: what a retrying step keeps hitting. */
function pendingFailure(description: WorkflowExecutionDescription): string | null {
  const failing = (description.raw.pendingActivities ?? []).filter((a) => a.lastFailure?.message);
  if (failing.length === 0) return null;
  const a = failing.at(-1)!;
  return `${a.activityType?.name ?? 'activity'} attempt ${a.attempt}: ${a.lastFailure!.message}`;
}

/**
 * What `evolve show` prints: the run's state from its queries, the running iteration's step and shard
 * progress as bars, and the last error (a failed run's cause, or the failure a retrying step keeps hitting).
 */
export async function showRun(client: Client, workflowId: string): Promise<string[]> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe();
  const lines: string[] = [];
  const evolveStatus = description.typedSearchAttributes.get(StatusKey);
  lines.push(
    `${workflowId}: ${description.status.name}${evolveStatus ? ` (${evolveStatus})` : ''}, started ${description.startTime.toISOString()}`,
  );
  const summary = await description.staticSummary();
  if (summary) lines.push(`  ${summary}`);
  const hash = description.memo?.configHash;
  if (hash) lines.push(`  config ${String(hash)}, artifacts under ${String(description.memo?.artifactRoot)}`);

  // Queries need a worker; a closed run whose worker is gone still shows its Temporal status and error.
  const notes = new Set<string>();
  const status: RunStatus | null = await queryOrWhy(
    client,
    workflowId,
    runStatusQuery,
    description.taskQueue,
    notes,
  );
  if (status) {
    const flags = [
      status.paused && 'PAUSED',
      status.stopRequested && 'stopping after this iteration',
      status.pendingChanges.length > 0 && `config changes pending: ${status.pendingChanges.join(', ')}`,
      (status.unappliedChanges?.length ?? 0) > 0 &&
        `config changes accepted but never applied (the run ended first): ${status.unappliedChanges!.join(', ')}; \`evolve show ${workflowId} --unapplied-config\` prints the config they make`,
      status.keptBest &&
        `policy kept from iteration ${status.keptBest.iteration} (${status.keptBest.score}): the last iteration regressed to ${status.keptBest.regressedTo}`,
    ].filter(Boolean);
    // Iterations finished: the running one is not done until the run moves past it.
    const finished =
      description.status.name === 'COMPLETED' ? status.iteration : Math.max(0, status.iteration - 1);
    lines.push(`  iterations ${bar(finished, status.iterations)}  policy ${status.policyModel}`);
    if (flags.length) lines.push(`  ${flags.join('; ')}`);
    for (const { iteration, accuracy } of status.evaluated ?? [])
      lines.push(
        `  iteration ${iteration}${iteration === 0 ? ' (initial policy)' : ''} evaluated: ${accuracyLine(accuracy)}`,
      );
  }
  let lastError = pendingFailure(description);
  // Iteration 0 (the initial policy's evaluation) is a child too; before any child the query finds none.
  const iteration = status?.iteration ?? description.typedSearchAttributes.get(IterationKey) ?? 0;
  const child = client.workflow.getHandle(`${workflowId}/iter-${iteration}`);
  const progress: IterationProgress | null = await queryOrWhy(
    client,
    child.workflowId,
    iterationProgressQuery,
    description.taskQueue,
    notes,
  );
  if (progress) {
    lines.push(`  iteration ${iteration}: step ${progress.step}${progress.paused ? ' (paused)' : ''}`);
    if (progress.shards > 0) lines.push(`  shards     ${bar(progress.shardsDone, progress.shards)}`);
    for (const s of progress.steps)
      lines.push(`  ${s.reused ? 'reused' : 'done'} ${s.step}: ${s.rows} rows${droppedNote(s)} -> ${s.uri}`);
    for (const suite of progress.suites ?? []) lines.push(`  suite ${suiteLine(suite)}`);
  }
  const childDescription = await child.describe().catch(() => null);
  const rows = childDescription && (await inFlightRows(client, childDescription));
  if (rows) lines.push(`  in flight  ${rows}`);
  lastError = (childDescription && pendingFailure(childDescription)) ?? lastError;
  if (description.status.name === 'FAILED' || description.status.name === 'TIMED_OUT') {
    lastError = await handle.result().then(
      () => null,
      (err: unknown) => rootCause(err).message,
    );
  }
  if (description.status.name === 'COMPLETED') {
    const result = (await handle.result()) as RunResult;
    if (result.stoppedAfter !== undefined)
      lines.push(`  stopped after iteration ${result.stoppedAfter} of ${status?.iterations ?? '?'}`);
  }
  if (lastError) lines.push(`  last error: ${lastError}`);
  for (const note of notes) lines.push(`  ${note}`);
  return lines;
}

/** The config updates a finished run accepted and never applied, or null (still running, or none). */
export async function unappliedOf(client: Client, runId: string): Promise<RunResult['unapplied'] | null> {
  const handle = client.workflow.getHandle(runId);
  const description = await handle.describe().catch(() => null);
  if (description?.status.name !== 'COMPLETED') return null;
  return ((await handle.result()) as RunResult).unapplied ?? null;
}
