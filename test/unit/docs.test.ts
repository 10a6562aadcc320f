import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { RESULTS_JSON, rendered, targets } from '../../bench/render-results.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** The pages a reader follows: they must stay true to the code. */
const pages = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Markdown outside fenced code blocks and code spans, where links are live. */
function prose(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line.replace(/`[^`]*`/g, '');
  });
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = !fenced && line.match(/^#{1,6}\s+(.*?)\s*#*\s*$/);
    if (!heading) continue;
    const slug = heading[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

test('headings get the anchors GitHub gives them', () => {
  const md =
    '# Reusing finished work: resets and `--resume-from`\n## Stage 0 (optional): SFT [paper]\n## A\n## A\n```\n# not a heading\n```';
  assert.deepEqual(
    [...anchors(md)],
    ['reusing-finished-work-resets-and---resume-from', 'stage-0-optional-sft-paper', 'a', 'a-1'],
  );
});

test('every relative link and anchor in README.md and docs/ resolves', () => {
  const broken: string[] = [];
  for (const page of pages) {
    const text = readFileSync(join(ROOT, page), 'utf8');
    prose(text).forEach((line, i) => {
      for (const [, target] of line.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target!)) continue; // http:, https:, mailto:
        const [file, anchor] = target!.split('#') as [string, string | undefined];
        const path = file === '' ? join(ROOT, page) : resolve(ROOT, dirname(page), file);
        const where = `${page}:${i + 1}: ${target}`;
        if (!existsSync(path)) {
          broken.push(`${where} (no file ${relative(ROOT, path)})`);
        } else if (anchor !== undefined) {
          const ok = statSync(path).isFile() && anchors(readFileSync(path, 'utf8')).has(anchor);
          if (!ok) broken.push(`${where} (no heading with anchor #${anchor})`);
        }
      }
    });
  }
  assert.deepEqual(broken, [], `broken links:\n  ${broken.join('\n  ')}`);
});

const text = (page: string) => readFileSync(join(ROOT, page), 'utf8');

test('every repository path the docs name exists', () => {
  const tracked = readdirSync(ROOT).filter((name) => !['node_modules', '.evolve', '.git'].includes(name));
  const missing = pages.flatMap((page) =>
    [...text(page).matchAll(/(?<![\w./-])([.\w-]+\/[\w./-]*[\w/])/g)]
      .map((m) => m[1]!)
      .filter((path) => tracked.includes(path.split('/')[0]!) && !existsSync(join(ROOT, path)))
      .map((path) => `${page}: ${path}`),
  );
  assert.deepEqual(missing, [], 'the docs name files that do not exist: fix the path or the docs');
});

test('every npm script and evolve command the docs name exists, and every command is documented', () => {
  const scripts = Object.keys(
    (JSON.parse(text('package.json')) as { scripts: Record<string, string> }).scripts,
  );
  const help = execFileSync(process.execPath, ['--import', 'tsx', 'client/cli.ts', '--help'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  const commands = [...help.matchAll(/^\s+evolve ([a-z][a-z-]*)/gm)].map((m) => m[1]!);
  assert.ok(commands.includes('run') && commands.includes('up'), `evolve --help lists no commands:\n${help}`);

  const all = pages.map(text).join('\n');
  const npmRuns = [...all.matchAll(/npm run (?:--silent |-s )?([a-z][\w:-]*)/g)].map((m) => m[1]!);
  const named = [
    ...all.matchAll(/npm run (?:--silent |-s )?evolve -- ([a-z][a-z-]*)/g),
    ...all.matchAll(/`evolve ([a-z][a-z-]*)/g),
  ].map((m) => m[1]!);
  assert.deepEqual(
    [...new Set(npmRuns.filter((s) => !scripts.includes(s)))],
    [],
    'npm scripts not in package.json',
  );
  assert.deepEqual(
    [...new Set(named.filter((c) => !commands.includes(c)))],
    [],
    'commands not in `evolve --help`',
  );
  assert.deepEqual(
    commands.filter((c) => !named.includes(c)),
    [],
    'commands of `evolve --help` that README.md and docs/ never show',
  );
});

test("the generation benchmark's tables in the docs are what its JSON renders", () => {
  const results = JSON.parse(readFileSync(join(ROOT, RESULTS_JSON), 'utf8')) as Parameters<
    typeof rendered
  >[2];
  for (const { file, targetsOnly } of targets) {
    const path = join(ROOT, file);
    assert.equal(
      readFileSync(path, 'utf8'),
      rendered(path, targetsOnly, results),
      `${file}: run npm run bench:tables to write its table from ${RESULTS_JSON}`,
    );
  }
});
