/** MATH-style final answers: the last `\boxed{...}` and a normal form in which equal answers compare equal. */

/** The content of the last `\boxed{...}` (or `\fbox{...}`), braces balanced; null when there is none. */
export function lastBoxed(text: string): string | null {
  const start = Math.max(text.lastIndexOf('\\boxed'), text.lastIndexOf('\\fbox'));
  if (start < 0) return null;
  const open = text.indexOf('{', start);
  if (open < 0) return null;
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(open + 1, i);
  }
  return null;
}

/** `\frac12` -> `\frac{1}{2}`: the short forms people write. */
function bracedFractions(s: string): string {
  return s.replace(/\\frac(\d|\{[^{}]*\})(\d|\{[^{}]*\})/g, (_, a: string, b: string) => {
    const brace = (x: string) => (x.startsWith('{') ? x : `{${x}}`);
    return `\\frac${brace(a)}${brace(b)}`;
  });
}

/**
 * The usual MATH normalisation (after Hendrycks et al.'s `strip_string`): no `\left`/`\right`, spacing
 * commands, `\text{}` wrappers, units, degrees, dollars or percent signs, `\dfrac`/`\tfrac` as `\frac`,
 * no trailing period, no spaces, `a/b` as `\frac{a}{b}`, a leading `x =` dropped.
 */
export function normaliseMathAnswer(answer: string): string {
  let s = answer.replace(/\n/g, '').replace(/\\!/g, '').replace(/\\\\/g, '\\');
  s = s.replace(/\\[dt]frac/g, '\\frac').replace(/\\left|\\right/g, '');
  s = s
    .replace(/\^\{?\\circ\}?/g, '')
    .replace(/\\\$|\$/g, '')
    .replace(/\\?%/g, '');
  s = s.replace(/(\S)\s*\\(?:text|mbox)\{\s*[a-zA-Z ]+\}\s*$/, '$1'); // a trailing unit
  s = s.replace(/\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}/g, '$1');
  s = s.replace(/\\[,;: ]/g, '').replace(/\s+/g, '');
  s = s.replace(/\.$/, '');
  s = s.replace(/^[a-zA-Z]\w*=/, '');
  s = s.replace(/\\sqrt(\d)/g, '\\sqrt{$1}');
  s = bracedFractions(s);
  const slash = /^(-?\d+)\/(\d+)$/.exec(s);
  if (slash) s = `\\frac{${slash[1]}}{${slash[2]}}`;
  if (s.startsWith('.')) s = `0${s}`;
  return s;
}

/** A plain number or a `\frac{a}{b}` of integers, as a number; null otherwise. */
function numericValue(normalised: string): number | null {
  const frac = /^(-?)\\frac\{(-?\d+)\}\{(\d+)\}$/.exec(normalised);
  if (frac) return (frac[1] ? -1 : 1) * (Number(frac[2]) / Number(frac[3]));
  const plain = normalised.replace(/,(?=\d{3}(\D|$))/g, '');
  return /^-?\d+(?:\.\d+)?$/.test(plain) ? Number(plain) : null;
}

/** Equal as normalised strings, else as numbers. (No symbolic comparison: `x+1` vs `1+x` differ.) */
export function mathAnswersMatch(answer: string, gold: string): boolean {
  const a = normaliseMathAnswer(answer);
  const g = normaliseMathAnswer(gold);
  if (a === g) return true;
  const [x, y] = [numericValue(a), numericValue(g)];
  return x !== null && y !== null && Math.abs(x - y) < 1e-9 * Math.max(1, Math.abs(y));
}
