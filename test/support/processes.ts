import { readdirSync, readFileSync } from 'node:fs';

const cmdline = (pid: string) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};

/** Pids of this machine's processes whose command line holds every marker (Linux /proc). */
export const processesWith = (...markers: string[]): number[] =>
  readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid) && markers.every((m) => cmdline(pid).includes(m)))
    .map(Number);
