import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, type TestContext } from 'node:test';

/**
 * A fresh directory under the system temp dir for a test's run artifacts (checkpoints take GBs),
 * removed when the test (or, without `t`, the file) ends; EVOLVE_KEEP_TEST_ARTIFACTS=1 keeps it.
 */
export function scratchDir(prefix: string, t?: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = () => {
    if (process.env.EVOLVE_KEEP_TEST_ARTIFACTS !== '1') rmSync(dir, { recursive: true, force: true });
  };
  if (t) t.after(remove);
  else after(remove);
  return dir;
}
