import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Sources run through tsx (.ts) or compiled by `npm run build` into dist/ (.js).
const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
export const workflowsPath = fileURLToPath(new URL(`../workflows/index.${ext}`, import.meta.url));
const script = fileURLToPath(new URL(`./bundle-child.${ext}`, import.meta.url));

/** The bundle `npm run build` made beside the compiled worker, if this is one. */
export function prebuiltBundle(): string | undefined {
  const path = fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));
  return ext === 'js' && existsSync(path) ? path : undefined;
}

/**
 * Bundles workflows/ in a short-lived child process and returns the code. Webpack's working memory
 * (about 150 MB resident, which V8 does not hand back to the OS) then never enters the long-running
 * worker: bundled in-process, the worker starts at about 400 MB instead of about 240 MB. `traced`: with the
 * workflow side of the tracing (workers/tracing.ts).
 */
export async function bundleWorkflowsApart(options: { traced?: boolean } = {}): Promise<{ code: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'evolve-bundle-'));
  const out = join(dir, 'workflows.js');
  try {
    // This process's node flags carry tsx's loader, so the child reads TypeScript; a debugger's are left
    // out (the child would take its port, or wait for it), and so is the worker's heap cap (webpack's).
    const flags = process.execArgv.filter((flag) => !/^--(inspect|max-old-space-size)/.test(flag));
    const child = spawn(process.execPath, [...flags, script, out, ...(options.traced ? ['--traced'] : [])], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0) throw new Error(`bundling workflows/ failed (exit ${code}): ${stderr.trim()}`);
    return { code: await readFile(out, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
