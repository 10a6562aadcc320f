import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LoadMonitor, parseProcStat } from '../../client/load-monitor.js';

/** A /proc/<pid>/stat line: fields 3..22 after the command name, utime 14, stime 15, starttime 22. */
const statLine = (pid: number, comm: string, ppid: number, utime: number, stime: number, start: number) =>
  `${pid} (${comm}) S ${ppid} ${Array(9).fill(0).join(' ')} ${utime} ${stime} 0 0 20 0 1 0 ${start} 1000 10`;

test('a /proc stat line is read past a command name holding spaces and parentheses', () => {
  assert.deepEqual(parseProcStat(statLine(42, 'python (trl) x', 7, 150, 50, 999)), {
    ppid: 7,
    start: '999',
    ticks: 200,
  });
  assert.equal(parseProcStat('garbage'), null);
});

test('CPU time splits into the experiment (descendants of its roots) and everything else', () => {
  const proc = mkdtempSync(join(tmpdir(), 'proc-'));
  const write = (pid: number, ppid: number, ticks: number, start = pid) => {
    mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(join(proc, String(pid), 'stat'), statLine(pid, 'p', ppid, ticks, 0, start));
  };
  write(1, 0, 5000); // init: neither root nor below one
  write(100, 1, 1000); // the experiment command (root)
  write(101, 100, 300); // its model server
  write(200, 1, 700); // a stranger
  mkdirSync(join(proc, 'self')); // not a pid: skipped
  let load = 1.5;
  const monitor = new LoadMonitor([100], proc, () => load);
  monitor.sample(); // the baseline: time spent before the watch does not count

  write(100, 1, 1100); // +100
  write(101, 100, 600); // +300
  write(102, 101, 250); // a trainer started since: counts whole, +250
  write(200, 1, 750); // +50
  write(300, 200, 40); // the stranger's child: +40
  load = 3.5;
  monitor.sample();

  rmSync(join(proc, '102'), { recursive: true }); // the trainer exited
  write(200, 1, 30, 5000); // pid 200 reused by a new stranger: counts whole, +30
  load = 2;
  monitor.sample();

  const summary = monitor.summary();
  assert.ok(summary);
  assert.deepEqual(summary.cpuSeconds, { experiment: 6.5, other: 1.2 });
  assert.deepEqual(summary.loadavg1, { median: 2, max: 3.5 });
  assert.equal(summary.samples, 3);
});

test('without /proc there is no record rather than a record of nothing', () => {
  const monitor = new LoadMonitor([1], join(tmpdir(), 'no-such-proc-dir'));
  monitor.sample();
  monitor.sample();
  assert.equal(monitor.summary(), null);
});
