/** Training metrics from the trainer's log lines such as {'loss': 0.69, ..., 'epoch': 1.0}. */
export function parseTrainerMetrics(log: string): Record<string, number> {
  const metrics: Record<string, number> = {};
  let steps = 0;
  // Metric dicts are interleaved with tqdm's carriage returns; their values are quoted strings.
  for (const line of log.split(/[\r\n]+/)) {
    const dict = /^\{'.*\}$/.exec(line.trim())?.[0];
    if (!dict) continue;
    steps++;
    for (const [, key, value] of dict.matchAll(/'([\w/]+)': '?(-?[\d.]+(?:e-?\d+)?)'?/g)) {
      const n = Number(value);
      if (!Number.isFinite(n)) continue;
      if (key === 'loss' && metrics.firstLoss === undefined) metrics.firstLoss = n;
      metrics[key!] = n;
    }
  }
  metrics.logLines = steps;
  return metrics;
}

/** Library versions from the `evolve-version trl 1.16.0` lines the trainer command prints first. */
export function parseLibraryVersions(log: string): Record<string, string> {
  return Object.fromEntries(
    [...log.matchAll(/^evolve-version (\S+) (\S+)$/gm)].map(([, name, v]) => [name, v]),
  );
}
