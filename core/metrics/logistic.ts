/** Small dense logistic regression, for the GLMs behind the benchmark scores. */

export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * Weighted logistic regression with fractional targets and no intercept, by Newton's method:
 * minimises -sum(weight (y log p + (1 - y) log(1 - p))) + ridge/2 |w|^2.
 */
export function fitLogistic(
  features: readonly number[][],
  targets: readonly number[],
  rowWeights?: readonly number[],
  ridge = 1e-6,
): number[] {
  const k = features[0]?.length ?? 0;
  let w = new Array<number>(k).fill(0);
  for (let iteration = 0; iteration < 100; iteration++) {
    const gradient = w.map((wi) => ridge * wi);
    const hessian = w.map((_, i) => w.map((__, j) => (i === j ? ridge : 0)));
    features.forEach((x, n) => {
      const p = sigmoid(x.reduce((s, xi, i) => s + xi * w[i]!, 0));
      const weight = rowWeights?.[n] ?? 1;
      const r = weight * (p - targets[n]!);
      const v = weight * p * (1 - p);
      for (let i = 0; i < k; i++) {
        gradient[i]! += r * x[i]!;
        for (let j = 0; j < k; j++) hessian[i]![j]! += v * x[i]! * x[j]!;
      }
    });
    const step = solve(hessian, gradient);
    w = w.map((wi, i) => wi - step[i]!);
    if (Math.max(...step.map(Math.abs)) < 1e-10) break;
  }
  return w;
}

/** Gaussian elimination with partial pivoting for the small Newton systems. */
export function solve(matrix: number[][], vector: number[]): number[] {
  const n = vector.length;
  const a = matrix.map((row, i) => [...row, vector[i]!]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    for (let r = col + 1; r < n; r++) {
      const f = a[r]![col]! / a[col]![col]!;
      for (let c = col; c <= n; c++) a[r]![c]! -= f * a[col]![c]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = a[r]![n]!;
    for (let c = r + 1; c < n; c++) s -= a[r]![c]! * x[c]!;
    x[r] = s / a[r]![r]!;
  }
  return x;
}

/** -sum(weight (y log p + (1 - y) log(1 - p))) of a linear predictor, with fractional targets. */
function crossEntropy(
  features: readonly number[][],
  targets: readonly number[],
  rowWeights: readonly number[],
) {
  return (w: readonly number[]) =>
    features.reduce((s, x, n) => {
      const z = x.reduce((t, xi, i) => t + xi * w[i]!, 0);
      // log(1 + e^z) - y z, stable on both sides.
      const softplus = z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
      return s + rowWeights[n]! * (softplus - targets[n]! * z);
    }, 0);
}

/**
 * L1-penalised logistic regression without intercept, liblinear's objective (solver L1R_LR, as
 * sklearn's `penalty="l1", solver="liblinear"` calls it): minimises |w|_1 + C * cross-entropy, with
 * fractional targets and row weights. liblinear's newGLMNET (a proximal Newton method: coordinate
 * descent on the quadratic model, then a line search) run to the exact optimum rather than
 * liblinear's tolerance.
 */
export function fitL1Logistic(
  features: readonly number[][],
  targets: readonly number[],
  rowWeights: readonly number[],
  C: number,
): number[] {
  const k = features[0]?.length ?? 0;
  const loss = crossEntropy(features, targets, rowWeights);
  const objective = (w: readonly number[]) => w.reduce((s, wi) => s + Math.abs(wi), 0) + C * loss(w);
  let w = new Array<number>(k).fill(0);
  let value = objective(w);
  for (let iteration = 0; iteration < 200; iteration++) {
    const gradient = new Array<number>(k).fill(0);
    const hessian = w.map(() => new Array<number>(k).fill(0));
    features.forEach((x, n) => {
      const p = sigmoid(x.reduce((s, xi, i) => s + xi * w[i]!, 0));
      const r = C * rowWeights[n]! * (p - targets[n]!);
      const v = C * rowWeights[n]! * p * (1 - p);
      for (let i = 0; i < k; i++) {
        gradient[i]! += r * x[i]!;
        for (let j = 0; j < k; j++) hessian[i]![j]! += v * x[i]! * x[j]!;
      }
    });
    // The direction: coordinate descent on g.d + d.H.d/2 + |w + d|_1 (liblinear's update per coordinate).
    const d = new Array<number>(k).fill(0);
    for (let sweep = 0; sweep < 10_000; sweep++) {
      let change = 0;
      for (let j = 0; j < k; j++) {
        const a = hessian[j]![j]! + 1e-12;
        const b = gradient[j]! + hessian[j]!.reduce((s, h, i) => s + (i === j ? 0 : h * d[i]!), 0);
        const c = w[j]!;
        const next = b + 1 < a * c ? -(b + 1) / a : b - 1 > a * c ? -(b - 1) / a : -c;
        change = Math.max(change, Math.abs(next - d[j]!));
        d[j] = next;
      }
      if (change < 1e-15) break;
    }
    const l1 = (v: readonly number[]) => v.reduce((s, vi) => s + Math.abs(vi), 0);
    const decrease =
      gradient.reduce((s, g, i) => s + g * d[i]!, 0) + l1(w.map((wi, i) => wi + d[i]!)) - l1(w);
    let step = 1;
    let next = w.map((wi, i) => wi + d[i]!);
    let nextValue = objective(next);
    while (nextValue > value + 0.01 * step * decrease && step > 1e-10) {
      step /= 2;
      next = w.map((wi, i) => wi + step * d[i]!);
      nextValue = objective(next);
    }
    const moved = Math.max(...w.map((wi, i) => Math.abs(next[i]! - wi)));
    w = next;
    value = nextValue;
    if (moved < 1e-13) break;
  }
  return w;
}
