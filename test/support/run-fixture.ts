import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The real demo run the report tests read (see test/fixtures/runs/README.md). */
export const demoRun = 'test/fixtures/runs/demo-20261125-163224';

/** A private copy of the demo run, to make partial or corrupt without touching the fixture. */
export function copyDemoRun(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'evolve-report-')), 'demo-20261125-163224');
  cpSync(demoRun, dir, { recursive: true });
  return dir;
}
