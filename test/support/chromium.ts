import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';

const NAMES = ['chromium', 'chromium-browser', 'google-chrome'];

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return null;
}

/**
 * Headless Chromium ($CHROMIUM or the first on PATH). Missing: the test fails under CI=true (CI installs
 * it with .ci/install-chromium) and is skipped elsewhere, saying how to install it.
 */
export function chromiumFor(t: TestContext): string | null {
  const found = process.env.CHROMIUM ?? NAMES.map(onPath).find((p) => p !== null) ?? null;
  if (found) return found;
  const hint =
    'chromium is not installed: run `bash .ci/install-chromium` (Debian package chromium, as root)';
  if (process.env.CI === 'true') throw new Error(hint);
  t.skip(hint);
  return null;
}

/** Loads a page in headless Chromium, lets its scripts run, and returns the resulting DOM as HTML. */
export async function dumpDom(chromium: string, url: string): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'evolve-chromium-'));
  try {
    const { stdout } = await promisify(execFile)(
      chromium,
      [
        '--headless',
        '--no-sandbox', // CI runs as root
        '--disable-gpu',
        '--no-first-run',
        `--user-data-dir=${profile}`,
        '--dump-dom',
        url,
      ],
      { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
    );
    return stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}
