import { redact, secretScrubber } from '../core/redact.js';

/**
 * Every byte the CLI prints passes the one redaction layer (core/redact.ts), whatever printed it: a run's
 * status, a report's table, a failure quoting a server. Stdout carries data (`evolve config`'s JSON, whose
 * templates may say "Basic ..."), so only the secrets' values are replaced there; stderr carries messages
 * and gets the full redaction (bearer tokens, credential headers and URLs too).
 */
export function redactOutput(): void {
  const wrap = (stream: NodeJS.WriteStream, clean: (text: string) => string) => {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) =>
      write(typeof chunk === 'string' ? clean(chunk) : chunk, ...rest)) as typeof stream.write;
  };
  wrap(process.stdout, (text) => secretScrubber()(text));
  wrap(process.stderr, (text) => redact(text));
}
