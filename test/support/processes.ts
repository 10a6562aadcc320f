import { readdirSync, readFileSync } from 'node:fs';

const cmdline = (pid: string) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};

/** Pids of this machine's processes whose command line holds `marker` (Linux /proc). */
export const processesWith = (marker: string): number[] =>
  readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid) && cmdline(pid).includes(marker))
    .map(Number);
