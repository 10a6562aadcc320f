import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');
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
