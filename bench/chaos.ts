/**
 * `npm run chaos [-- --cases worker-kill@train,faults-mix] [--json FILE]`: runs the chaos matrix (bench/
 * chaos-suite.ts), the undisturbed baseline first, and prints one row per case: completed or not, rows lost
 * and duplicated against the baseline, replies paid twice, requests re-sent, recovery time. Exits 1 when a
 * case did not complete or lost, duplicated or paid for anything twice.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatTable } from '../core/table.js';
import { reapOnExit } from '../test/support/processes.js';
import { CASES, chaosSuite, type ChaosRow } from './chaos-suite.js';

const { values } = parseArgs({ options: { cases: { type: 'string' }, json: { type: 'string' } } });
const wanted = values.cases?.split(',') ?? CASES.map((c) => c.name);
const unknown = wanted.filter((n) => !CASES.some((c) => c.name === n));
if (unknown.length > 0) {
  console.error(
    `unknown case(s) ${unknown.join(', ')}; the cases are ${CASES.map((c) => c.name).join(', ')}`,
  );
  process.exit(2);
}
const cases = CASES.filter((c) => c.name === 'baseline' || wanted.includes(c.name));

reapOnExit();
const started = new Date();
const suite = await chaosSuite((line) => console.error(`# ${line}`));
const rows: ChaosRow[] = [];
try {
  for (const c of cases)
    rows.push(
      await suite.run(c).catch((err: Error): ChaosRow => ({
        name: c.name,
        fault: c.fault ? `${c.fault.kind} at ${c.fault.at}` : 'none',
        completed: false,
        wallS: 0,
        lost: 0,
        duplicated: 0,
        paidTwice: 0,
        resent: 0,
        recoveryS: null,
        detail: `the case itself failed: ${err.message}`,
      })),
    );
} finally {
  await suite.close();
}

console.log(`chaos suite, ${started.toISOString()}, ${rows.length} cases\n`);
console.log(
  formatTable(
    ['case', 'fault', 'completed', 'lost', 'duplicated', 'paid twice', 're-sent', 'recovery s', 'wall s'],
    rows.map((r) => [
      r.name,
      r.fault,
      r.completed ? 'yes' : 'NO',
      r.lost,
      r.duplicated,
      r.paidTwice,
      r.resent,
      r.recoveryS === null ? '-' : Number(r.recoveryS.toFixed(1)),
      Number(r.wallS.toFixed(0)),
    ]),
  ),
);
for (const r of rows) console.log(`${r.name}: ${r.detail}`);
if (values.json) writeFileSync(values.json, JSON.stringify({ started, rows }, null, 2) + '\n');
const bad = rows.filter((r) => !r.completed || r.lost + r.duplicated + r.paidTwice > 0);
if (bad.length > 0) console.log(`\nnot clean: ${bad.map((r) => r.name).join(', ')}`);
process.exit(bad.length > 0 ? 1 : 0);
