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
