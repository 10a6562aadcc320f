import { readFileSync } from 'node:fs';

/** A field of /proc/<pid>/status in MB (VmRSS: resident now; VmHWM: the kernel's resident peak). */
function statusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return line ? Number(line[1]) / 1024 : NaN;
}

/**
 * Watches another process's resident memory from /proc, as an operator's tools see it (not the
 * process's own view of its heap): the first reading, and the kernel's peak as last read.
 */
export function watchMemory(pid: number, everyMs = 500) {
  const read = () => {
    try {
      return { rss: statusMb(pid, 'VmRSS'), hwm: statusMb(pid, 'VmHWM') };
    } catch {
      return null; // exited
    }
  };
  const first = read();
  let last = first;
  const timer = setInterval(() => (last = read() ?? last), everyMs);
  return {
    stop(): { startRssMb: number; peakRssMb: number } {
      clearInterval(timer);
      last = read() ?? last;
      return { startRssMb: first?.rss ?? NaN, peakRssMb: last?.hwm ?? NaN };
    },
  };
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; NaN once it has exited. */
export function cpuSeconds(pid: number): number {
  try {
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th, in ticks.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** USER_HZ: 100 on every Linux architecture node runs on. */
const CLOCK_TICKS = 100;
