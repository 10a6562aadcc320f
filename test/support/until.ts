import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `probe` until it holds; fails naming `what` after `ms`. */
export async function until(what: string, probe: () => unknown, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}
