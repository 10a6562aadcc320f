/**
 * MATH answer checking, after the MATH (Hendrycks et al.) and PRM800K graders: take the last
 * `\boxed{...}`, normalise both sides, then compare as strings, element by element for tuples and
 * intervals, numerically, and symbolically (see math-expr.ts).
 */
import { equivalentExpressions } from './math-expr.js';

export type MathExtractor = 'boxed' | 'answer-is';
export type Equivalence = 'string' | 'numeric' | 'symbolic';

/** The argument of the last `\boxed{...}` or `\fbox{...}` (balanced braces), or of `\boxed 5`. */
export function lastBoxed(text: string): string | null {
  const start = Math.max(text.lastIndexOf('\\boxed'), text.lastIndexOf('\\fbox'));
  if (start < 0) return null;
  const rest = text.slice(start).replace(/^\\(?:boxed|fbox)/, '');
  if (rest.startsWith(' ')) return /^ +([^\s$]+)/.exec(rest)?.[1] ?? null;
  if (!rest.startsWith('{')) return null;
  let depth = 0;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '{') depth++;
    else if (rest[i] === '}' && --depth === 0) return rest.slice(1, i);
  }
  return null;
}

/** Prefers the last `\boxed{}`; else a closing "the (final) answer is X" sentence. */
export function extractMathAnswer(text: string): { extractor: MathExtractor; value: string } | null {
  const boxed = lastBoxed(text);
  if (boxed !== null) return { extractor: 'boxed', value: boxed };
  const said = [...text.matchAll(/answer is:?\s*(.+)/gi)].at(-1)?.[1];
  if (said === undefined) return null;
  const value = said
    .trim()
    .replace(/^\$+|\$+$/g, '')
    .replace(/\$?\.?$/, '')
    .trim();
  return value ? { extractor: 'answer-is', value } : null;
}

/** Brace-aware replacement of `\cmd{X}` by `X`. */
function unwrap(s: string, command: string): string {
  let out = s;
  for (;;) {
    const at = out.indexOf(`\\${command}{`);
    if (at < 0) return out;
    let depth = 0;
    let end = -1;
    for (let i = at + command.length + 1; i < out.length; i++) {
      if (out[i] === '{') depth++;
      else if (out[i] === '}' && --depth === 0) {
        end = i;
        break;
      }
    }
    if (end < 0) return out;
    out = out.slice(0, at) + out.slice(at + command.length + 2, end) + out.slice(end + 1);
  }
}

/** `\frac12` -> `\frac{1}{2}`, `\sqrt3` -> `\sqrt{3}`: single-token arguments get braces. */
function braceShortArguments(s: string): string {
  return s
    .replace(/\\sqrt(\w)/g, '\\sqrt{$1}')
    .replace(/\\frac(\d)(\d)/g, '\\frac{$1}{$2}')
    .replace(/\\frac(\d)\{/g, '\\frac{$1}{')
    .replace(/\\frac\{([^{}]*)\}(\d)/g, '\\frac{$1}{$2}');
}

/** The MATH `strip_string` and PRM800K `_normalize` steps that matter for final answers. */
export function normaliseMathAnswer(answer: string): string {
  let s = answer.trim().replace(/\n/g, ' ');
  s = s.replace(/^\$+|\$+$/g, '').replace(/^\\\(|\\\)$/g, '');
  s = s.replace(/\\!/g, '').replace(/\\[,;:> ]/g, ' ');
  s = s.replace(/\\\\/g, '\\').replace(/\\displaystyle/g, '');
  s = s.replace(/\\[dt]frac/g, '\\frac');
  s = s.replace(/\\(?:left|right)\./g, '').replace(/\\left|\\right/g, '');
  s = s.replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°/g, '');
  s = s.replace(/\\\$|\$/g, '');
  // A trailing unit (`10\text{ cm}`) is dropped; a text-only answer (`\text{Evelyn}`) is kept.
  s = s.replace(/(\S)\s*\\(?:text|mbox|mathrm)\{\s*[a-zA-Z ]+\}\s*$/, '$1');
  for (const command of ['text', 'textbf', 'mbox', 'mathrm', 'mathbf', 'boxed']) s = unwrap(s, command);
  s = s.replace(/\\%|%/g, '');
  s = s.replace(/\s\./g, ' 0.').replace(/\{\./g, '{0.').replace(/^\./, '0.');
  // "x = 5" and "k=5": a short left-hand side is a name, not part of the answer.
  const eq = /^\s*[a-zA-Z](?:_\w)?\s*=\s*(.+)$/.exec(s);
  if (eq && !eq[1]!.includes('=')) s = eq[1]!;
  s = s.replace(/\s+/g, '');
  s = braceShortArguments(s);
  // PRM800K strips thousands separators, repeatedly: 1,000,000 -> 1000000.
  while (/(\d),(\d{3})($|\D)/.test(s)) s = s.replace(/(\d),(\d{3})($|\D)/, '$1$2$3');
  s = s.replace(/\.$/, '').replace(/(\d)\.0+$/, '$1');
  return s;
}

/** Splits `(a,b)` / `[a,b)` / `a,b` at top-level commas; brackets are kept apart for comparison. */
function splitTuple(s: string): { open: string; close: string; items: string[] } {
  const bracketed = /^([([{])(.*)([)\]}])$/.exec(s);
  const [open, body, close] = bracketed ? [bracketed[1]!, bracketed[2]!, bracketed[3]!] : ['', s, ''];
  const items: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of body) {
    if ('([{'.includes(c)) depth++;
    if (')]}'.includes(c)) depth--;
    if (c === ',' && depth === 0) {
      items.push(current);
      current = '';
    } else current += c;
  }
  items.push(current);
  return { open, close, items };
}

function equalAtoms(a: string, b: string): Equivalence | null {
  if (a === b) return 'string';
  if (/^[a-zA-Z]+$/.test(a) && a.toLowerCase() === b.toLowerCase()) return 'string';
  return equivalentExpressions(a, b);
}

/** How two normalised answers are equal, or null: strings, then tuples element-wise, then math. */
export function mathEquivalence(given: string, gold: string): Equivalence | null {
  const a = normaliseMathAnswer(given);
  const b = normaliseMathAnswer(gold);
  if (!a || !b) return null;
  const direct = equalAtoms(a, b);
  if (direct) return direct;
  const [x, y] = [splitTuple(a), splitTuple(b)];
  if (x.items.length < 2 || x.items.length !== y.items.length) return null;
  if (x.open !== y.open || x.close !== y.close) return null;
  const parts = x.items.map((item, i) => equalAtoms(item, y.items[i]!));
  if (parts.some((p) => p === null)) return null;
  return parts.includes('symbolic') ? 'symbolic' : parts.includes('numeric') ? 'numeric' : 'string';
}
