import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CASES, chaosSuite, type ChaosSuite } from '../../bench/chaos-suite.js';
import { reapOnExit } from '../support/processes.js';

// The chaos suite's reduced matrix (`npm run chaos` runs all of it; test/e2e/demo.test.ts kills the worker):
// on a real Temporal dev server, worker process and trainer, each case must complete with the baseline's
// rows, none twice, no reply paid twice.
const REDUCED = ['baseline', 'temporal-kill@refine', 'faults-mix'];
let suite: ChaosSuite;
before(async () => {
  reapOnExit();
  suite = await chaosSuite((line) => console.log(`# ${line}`));
});
after(() => suite?.close());

for (const name of REDUCED) {
  test(`chaos: ${name} completes with nothing lost, duplicated or paid twice`, async () => {
    const row = await suite.run(CASES.find((c) => c.name === name)!);
    console.log(`# ${JSON.stringify(row)}`);
    assert.ok(row.completed, `${name} completed`);
    assert.equal(row.lost, 0, 'rows lost against the baseline');
    assert.equal(row.duplicated, 0, 'rows written twice');
    assert.equal(row.paidTwice, 0, 'replies read whole and asked for again');
    if (name === 'faults-mix') assert.ok(row.resent > 0, 'the injected faults were retried');
    if (name !== 'baseline' && name !== 'faults-mix') assert.ok(row.recoveryS !== null, 'work went on');
  });
}
