import { inspect } from 'node:util';
import { DefaultLogger, type LogEntry, type LogLevel, Runtime } from '@temporalio/worker';
import { redact } from '../core/redact.js';

/** One JSON object per line: `{"time", "level", "message", ...metadata}` (workflow/activity ids, attempt...). */
export function jsonLogLine(entry: LogEntry): string {
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  return JSON.stringify(
    { time, level: entry.level, message: entry.message, ...entry.meta },
    (_key, value: unknown) =>
      typeof value === 'bigint'
        ? value.toString()
        : value instanceof Error
          ? { name: value.name, message: value.message }
          : value,
  );
}

/** `time [LEVEL] message {metadata}`, as the SDK's default logger writes it. */
export function textLogLine(entry: LogEntry): string {
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  const meta = entry.meta === undefined ? '' : ` ${inspect(entry.meta, { breakLength: Infinity, depth: 4 })}`;
  return `${time} [${entry.level}] ${entry.message}${meta}`;
}

/** EVOLVE_UMASK (octal, default 077): files 0600 and directories 0700 unless the operator widens it. */
export function workerUmask(env: NodeJS.ProcessEnv = process.env): number {
  const value = env.EVOLVE_UMASK ?? '077';
  if (!/^0?[0-7]{3}$/.test(value))
    throw new Error(`EVOLVE_UMASK=${value}: expected an octal mask such as 077 or 022`);
  return parseInt(value, 8);
}
/** One line per distinct warning a minute: a lost Temporal connection makes every poller warn at once, again and again. */
const REPEAT_WINDOW_MS = 60_000;

/**
 * Passes entries through, except WARN entries repeating a message already passed in the last minute:
 * those are counted, and the count goes out with the next occurrence after the minute.
 */
export function dedupeWarnings(
  write: (entry: LogEntry) => void,
  now = () => Date.now(),
): (entry: LogEntry) => void {
  const seen = new Map<string, { at: number; dropped: number }>();
  return (entry) => {
    if (entry.level !== 'WARN') return write(entry);
    const last = seen.get(entry.message);
    if (last && now() - last.at < REPEAT_WINDOW_MS) {
      last.dropped++;
      return;
    }
    const dropped = last?.dropped ?? 0;
    seen.set(entry.message, { at: now(), dropped: 0 });
    if (seen.size > 1000) seen.delete(seen.keys().next().value!);
    write(dropped > 0 ? { ...entry, message: `${entry.message} (and ${dropped} more like it)` } : entry);
  };
}

export interface RuntimeSettings {
  /** `host:port` the Prometheus exporter serves `/metrics` on, if any. */
  metrics?: string;
  format: 'json' | 'text';
  level: LogLevel;
}

/**
 * Reads EVOLVE_METRICS_PORT (Prometheus `/metrics` on that port, off when unset; EVOLVE_METRICS_HOST,
 * default 127.0.0.1), EVOLVE_LOG_FORMAT (`json`, the default, or `text`) and EVOLVE_LOG_LEVEL (INFO).
 */
export function runtimeSettings(env: NodeJS.ProcessEnv = process.env): RuntimeSettings {
  const port = env.EVOLVE_METRICS_PORT;
  if (port !== undefined && !/^\d+$/.test(port))
    throw new Error(`EVOLVE_METRICS_PORT=${port}: expected a port`);
  const format = env.EVOLVE_LOG_FORMAT ?? 'json';
  if (format !== 'json' && format !== 'text')
    throw new Error(`EVOLVE_LOG_FORMAT=${format}: expected json or text`);
  const level = (env.EVOLVE_LOG_LEVEL ?? 'INFO').toUpperCase();
  if (!['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'].includes(level))
    throw new Error(`EVOLVE_LOG_LEVEL=${level}: expected TRACE, DEBUG, INFO, WARN or ERROR`);
  return {
    ...(port ? { metrics: `${env.EVOLVE_METRICS_HOST ?? '127.0.0.1'}:${port}` } : {}),
    format,
    level: level as LogLevel,
  };
}

/**
 * Installs the worker process's runtime: the SDK logger (core's own logs forwarded to it, so everything
 * comes out in one format) and, when asked, the Prometheus exporter of the SDK's worker metrics.
 */
export function installRuntime(
  settings: RuntimeSettings,
  write: (line: string) => void = (line) =>
    void (settings.format === 'json' ? process.stdout : process.stderr).write(`${line}\n`),
): void {
  // Every line is redacted (core/redact.ts): a failure's message may quote a server's reply.
  Runtime.install({
    logger: new DefaultLogger(
      settings.level,
      dedupeWarnings((entry) =>
        write(redact(settings.format === 'json' ? jsonLogLine(entry) : textLogLine(entry))),
      ),
    ),
    telemetryOptions: {
      logging: { forward: {}, filter: { core: 'WARN', other: 'ERROR' } },
      ...(settings.metrics ? { metrics: { prometheus: { bindAddress: settings.metrics } } } : {}),
    },
  });
}
