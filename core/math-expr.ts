/**
 * A small evaluator for the LaTeX arithmetic of MATH answers (numbers, + - * / ^, \frac, \sqrt, \pi,
 * implicit products, one-letter variables). It stands in for the sympy step of the PRM800K grader:
 * two expressions are equivalent when they agree at several random points of their variables.
 */

type Expr = (vars: Record<string, number>) => number;

interface Token {
  kind: 'num' | 'var' | 'op' | 'open' | 'close' | 'cmd';
  text: string;
}

const COMMANDS = new Set(['frac', 'sqrt', 'pi', 'cdot', 'times', 'div']);

function tokenize(src: string): Token[] | null {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (/[0-9.]/.test(c)) {
      const m = /^(?:\d+(?:\.\d*)?|\.\d+)/.exec(src.slice(i));
      if (!m) return null;
      tokens.push({ kind: 'num', text: m[0] });
      i += m[0].length;
    } else if (/[a-zA-Z]/.test(c)) {
      tokens.push({ kind: 'var', text: c });
      i++;
    } else if (c === '\\') {
      const m = /^\\([a-zA-Z]+)/.exec(src.slice(i));
      if (!m || !COMMANDS.has(m[1]!)) return null;
      tokens.push({ kind: 'cmd', text: m[1]! });
      i += m[0].length;
    } else if ('+-*/^'.includes(c)) {
      tokens.push({ kind: 'op', text: c });
      i++;
    } else if ('({['.includes(c)) {
      tokens.push({ kind: 'open', text: c });
      i++;
    } else if (')}]'.includes(c)) {
      tokens.push({ kind: 'close', text: c });
      i++;
    } else {
      return null;
    }
  }
  return tokens;
}

class Parser {
  private pos = 0;
  readonly vars = new Set<string>();
  constructor(private readonly tokens: Token[]) {}

  parse(): Expr | null {
    const e = this.sum();
    return e && this.pos === this.tokens.length ? e : null;
  }

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  private sum(): Expr | null {
    let sign = 1;
    if (this.peek()?.text === '-' || this.peek()?.text === '+')
      sign = this.tokens[this.pos++]!.text === '-' ? -1 : 1;
    let left = this.product();
    if (!left) return null;
    const first = left;
    left = sign === 1 ? first : (v) => -first(v);
    while (this.peek()?.text === '+' || this.peek()?.text === '-') {
      const op = this.tokens[this.pos++]!.text;
      const right = this.product();
      if (!right) return null;
      const l: Expr = left;
      left = op === '+' ? (v) => l(v) + right(v) : (v) => l(v) - right(v);
    }
    return left;
  }

  private product(): Expr | null {
    let left = this.power();
    if (!left) return null;
    for (;;) {
      const t = this.peek();
      if (!t) return left;
      const l: Expr = left;
      if (
        t.text === '*' ||
        t.text === '/' ||
        (t.kind === 'cmd' && ['cdot', 'times', 'div'].includes(t.text))
      ) {
        this.pos++;
        const right = this.power();
        if (!right) return null;
        left = t.text === '/' || t.text === 'div' ? (v) => l(v) / right(v) : (v) => l(v) * right(v);
      } else if (t.kind === 'num' || t.kind === 'var' || t.kind === 'open' || t.kind === 'cmd') {
        const right = this.power(); // implicit product: 2\pi, 3\sqrt{2}, 2x
        if (!right) return null;
        left = (v) => l(v) * right(v);
      } else {
        return left;
      }
    }
  }

  private power(): Expr | null {
    const base = this.atom();
    if (!base) return null;
    if (this.peek()?.text !== '^') return base;
    this.pos++;
    const sign = this.peek()?.text === '-' ? (this.pos++, -1) : 1;
    const exp = this.atom();
    if (!exp) return null;
    return (v) => Math.pow(base(v), sign * exp(v));
  }

  private group(): Expr | null {
    const open = this.peek();
    if (open?.kind !== 'open') return null;
    this.pos++;
    const inner = this.sum();
    if (!inner || this.peek()?.kind !== 'close') return null;
    this.pos++;
    return inner;
  }

  private atom(): Expr | null {
    const t = this.peek();
    if (!t) return null;
    if (t.kind === 'num') {
      this.pos++;
      const n = Number(t.text);
      return () => n;
    }
    if (t.kind === 'var') {
      this.pos++;
      this.vars.add(t.text);
      return (v) => v[t.text] ?? NaN;
    }
    if (t.kind === 'open') return this.group();
    if (t.kind !== 'cmd') return null;
    this.pos++;
    if (t.text === 'pi') return () => Math.PI;
    if (t.text === 'frac') {
      const num = this.group() ?? this.digit();
      const den = num && (this.group() ?? this.digit());
      return num && den ? (v) => num(v) / den(v) : null;
    }
    if (t.text === 'sqrt') {
      let index: Expr = () => 2;
      if (this.peek()?.text === '[') {
        const i = this.group();
        if (!i) return null;
        index = i;
      }
      const radicand = this.group() ?? this.digit();
      return radicand ? (v) => Math.pow(radicand(v), 1 / index(v)) : null;
    }
    return null;
  }

  /** `\frac12` and `\sqrt3`: an unbraced argument is a single digit. */
  private digit(): Expr | null {
    const t = this.peek();
    if (t?.kind !== 'num') return null;
    const d = Number(t.text[0]);
    if (t.text.length === 1) this.pos++;
    else this.tokens[this.pos] = { kind: 'num', text: t.text.slice(1) };
    return () => d;
  }
}

export interface Compiled {
  evaluate: Expr;
  variables: string[];
}

/** Compiles a normalised answer, or null when it is not plain arithmetic (sets, text, functions...). */
export function compileMath(src: string): Compiled | null {
  const tokens = tokenize(src);
  if (!tokens || tokens.length === 0) return null;
  const parser = new Parser(tokens);
  const evaluate = parser.parse();
  return evaluate ? { evaluate, variables: [...parser.vars].sort() } : null;
}

/** Integers compare exactly (11111111101 is not 11111111100); other values to a relative 1e-9. */
const close = (a: number, b: number) =>
  Number.isInteger(a) && Number.isInteger(b)
    ? a === b
    : Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

/** Numeric equality when both are constants; otherwise agreement at fixed pseudo-random points. */
export function equivalentExpressions(a: string, b: string): 'numeric' | 'symbolic' | null {
  const x = compileMath(a);
  const y = compileMath(b);
  if (!x || !y) return null;
  const names = [...new Set([...x.variables, ...y.variables])];
  if (names.length === 0) {
    const [u, w] = [x.evaluate({}), y.evaluate({})];
    return Number.isFinite(u) && close(u, w) ? 'numeric' : null;
  }
  if (x.variables.join() !== y.variables.join()) return null;
  for (const point of [0.37, 1.91, -2.53, 3.17]) {
    const vars = Object.fromEntries(names.map((n, i) => [n, point + 0.61 * i]));
    const [u, w] = [x.evaluate(vars), y.evaluate(vars)];
    if (!Number.isFinite(u) || !close(u, w)) return null;
  }
  return 'symbolic';
}
