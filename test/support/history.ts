import proto, { type temporal } from '@temporalio/proto';

/** The figures a workflow history is budgeted on: its event count and its largest event's encoded size. */
export interface HistorySize {
  events: number;
  /** An event carries its payloads (an activity's input, its result), so this bounds the largest payload. */
  largestEventBytes: number;
}

export async function historySize(handle: {
  fetchHistory(): Promise<temporal.api.history.v1.IHistory>;
}): Promise<HistorySize> {
  const events = (await handle.fetchHistory()).events ?? [];
  return {
    events: events.length,
    largestEventBytes: Math.max(
      0,
      ...events.map((e) => proto.temporal.api.history.v1.HistoryEvent.encode(e).finish().length),
    ),
  };
}
