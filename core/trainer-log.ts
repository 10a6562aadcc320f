/** Every metrics dict the trainer logged, in order: lines such as {'loss': '0.69', ..., 'epoch': '1.0'}. */
export function parseTrainerLog(log: string): Record<string, number>[] {
  const entries: Record<string, number>[] = [];
  // Metric dicts are interleaved with tqdm's carriage returns; their values are quoted strings.
  for (const line of log.split(/[\r\n]+/)) {
    const dict = /^\{'.*\}$/.exec(line.trim())?.[0];
    if (!dict) continue;
    const entry: Record<string, number> = {};
    for (const [, key, value] of dict.matchAll(/'([\w/]+)': '?(-?[\d.]+(?:e-?\d+)?)'?/g)) {
      const n = Number(value);
      if (Number.isFinite(n)) entry[key!] = n;
    }
    entries.push(entry);
  }
  return entries;
}

/**
 * Training metrics from the trainer's log: the last value of each, the first loss, the line count, and
 * the optimizer steps (the recipes log every step, `--logging_steps 1`: one `loss` line each).
 */
export function parseTrainerMetrics(log: string): Record<string, number> {
  const entries = parseTrainerLog(log);
  const metrics: Record<string, number> = Object.assign({}, ...entries);
  const losses = entries.filter((e) => e.loss !== undefined);
  if (losses.length > 0) metrics.firstLoss = losses[0]!.loss!;
  metrics.logLines = entries.length;
  metrics.optimizerSteps = losses.length;
  return metrics;
}

/** Library versions from the `evolve-version trl 1.16.0` lines the trainer command prints first. */
export function parseLibraryVersions(log: string): Record<string, string> {
  return Object.fromEntries(
    [...log.matchAll(/^evolve-version (\S+) (\S+)$/gm)].map(([, name, v]) => [name, v]),
  );
}
