/**
 * liblinear's L1-regularised logistic regression as scikit-learn runs it
 * (`LogisticRegression(penalty="l1", solver="liblinear", fit_intercept=False)`, sklearn 1.5's
 * vendored sklearn/svm/src/liblinear/linear.cpp), step for step: liblinear stops at its own
 * tolerance, far from the optimum, and visits the coordinates in a random order, so only the same
 * steps from the same seed give the same weights.
 */

/** std::mt19937 (and numpy's legacy RandomState, the same generator seeded the same way). */
export class Mt19937 {
  private readonly state = new Uint32Array(624);
  private index = 624;

  constructor(seed: number) {
    this.state[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = this.state[i - 1]!;
      this.state[i] = Math.imul(1812433253, prev ^ (prev >>> 30)) + i;
    }
  }

  nextUint32(): number {
    if (this.index >= 624) {
      for (let i = 0; i < 624; i++) {
        const y = (this.state[i]! & 0x80000000) | (this.state[(i + 1) % 624]! & 0x7fffffff);
        this.state[i] = this.state[(i + 397) % 624]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = this.state[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** sklearn's newrand.h `bounded_rand_int`: Lemire's method, a uniform integer in [0, range). */
  boundedInt(range: number): number {
    const TWO32 = 2 ** 32;
    // x * range stays exact in a double while range < 2^21, plenty for a feature count.
    if (range >= 2 ** 21) throw new RangeError(`boundedInt: range ${range} too large`);
    let m = this.nextUint32() * range;
    let low = m % TWO32;
    if (low < range) {
      const threshold = (TWO32 - range) % range;
      while (low < threshold) {
        m = this.nextUint32() * range;
        low = m % TWO32;
      }
    }
    return Math.floor(m / TWO32);
  }
}

/**
 * The seeds sklearn hands liblinear for `random_state=randomState`: `_logistic_regression_path`
 * makes one RandomState for its whole list of Cs and `_fit_liblinear` draws
 * `randint(np.iinfo("i").max)` per C, which numpy's legacy masked sampler takes from the low 31
 * bits of each 32-bit draw, redrawing 2^31 - 1.
 */
/**
 * liblinear's optimality violation of coordinate j (weight wj, gradient G of the smooth part, the L1
 * term's subgradient +-1); null where wj is 0 and G is well inside the bound: the coordinate is shrunk.
 */
function violationOf(wj: number, G: number, shrinkBound: number): number | null {
  const Gp = G + 1;
  const Gn = G - 1;
  if (wj === 0) {
    if (Gp < 0) return -Gp;
    if (Gn > 0) return Gn;
    return Gp > shrinkBound && Gn < -shrinkBound ? null : 0;
  }
  return wj > 0 ? Math.abs(Gp) : Math.abs(Gn);
}

export function liblinearSeeds(randomState: number, count: number): number[] {
  const rng = new Mt19937(randomState);
  const seeds: number[] = [];
  while (seeds.length < count) {
    const draw = rng.nextUint32() & 0x7fffffff;
    if (draw <= 2 ** 31 - 2) seeds.push(draw);
  }
  return seeds;
}

/** A feature's nonzero entries, as liblinear's column-major `prob_col` holds them. */
interface Column {
  rows: number[];
  values: number[];
}

/**
 * L1-penalised logistic regression without intercept, with fractional targets and row weights, as
 * the official alpaca_eval fits it: each row goes to sklearn twice, as class 1 with weight
 * `weight * target` and as class 0 with weight `weight * (1 - target)`, and liblinear minimises
 * |w|_1 + sum_i C_i log(1 + exp(-y_i w.x_i)) with C_i = sample weight * C. liblinear's
 * `solve_l1r_lr` (newGLMNET) follows, with sklearn's defaults: `tol` 1e-4 scaled as `train_one`
 * does, at most `maxIter` (100) Newton steps, coordinates shuffled by `seed`.
 */
export function fitL1Logistic(
  features: readonly number[][],
  targets: readonly number[],
  rowWeights: readonly number[],
  C: number,
  seed: number,
  tol = 1e-4,
  maxIter = 100,
): number[] {
  const n = features.length;
  const wSize = features[0]?.length ?? 0;
  // group_classes puts the class -1 (label 0) rows first, each class in its original order.
  const l = 2 * n;
  const y = new Int8Array(l);
  const Ci = new Float64Array(l);
  for (let i = 0; i < n; i++) {
    y[i] = -1;
    Ci[i] = (1 - targets[i]!) * rowWeights[i]! * C;
    y[n + i] = 1;
    Ci[n + i] = targets[i]! * rowWeights[i]! * C;
  }
  const rowOf = (i: number) => features[i % n]!;
  const columns: Column[] = Array.from({ length: wSize }, (_, j) => {
    const column: Column = { rows: [], values: [] };
    for (let i = 0; i < l; i++) {
      const value = rowOf(i)[j]!;
      if (value !== 0) {
        column.rows.push(i);
        column.values.push(value);
      }
    }
    return column;
  });
  // train_one: primal_solver_tol = eps * max(min(pos, neg), 1) / l.
  const eps = (tol * Math.max(n, 1)) / l;
  const rng = new Mt19937(seed);

  const maxInnerIter = 1000;
  const maxNumLinesearch = 20;
  const nu = 1e-12;
  const sigma = 0.01;
  let innerEps = 1;
  let Gnorm1Init = -1;
  let GmaxOld = Infinity;
  let QPNoChange = 0;

  const w = new Float64Array(wSize);
  const index = Int32Array.from({ length: wSize }, (_, j) => j);
  const Hdiag = new Float64Array(wSize);
  const Grad = new Float64Array(wSize);
  const wpd = new Float64Array(wSize);
  const xjnegSum = new Float64Array(wSize);
  const xTd = new Float64Array(l);
  const expWTx = new Float64Array(l);
  const expWTxNew = new Float64Array(l);
  const tau = new Float64Array(l);
  const D = new Float64Array(l);
  const swap = (a: number, b: number) => {
    const t = index[a]!;
    index[a] = index[b]!;
    index[b] = t;
  };

  let wNorm = 0;
  for (let j = 0; j < wSize; j++) {
    wNorm += Math.abs(w[j]!);
    wpd[j] = w[j]!;
    const { rows, values } = columns[j]!;
    for (let k = 0; k < rows.length; k++) {
      const ind = rows[k]!;
      expWTx[ind]! += w[j]! * values[k]!;
      if (y[ind] === -1) xjnegSum[j]! += Ci[ind]! * values[k]!;
    }
  }
  for (let i = 0; i < l; i++) {
    expWTx[i] = Math.exp(expWTx[i]!);
    const tauTmp = 1 / (1 + expWTx[i]!);
    tau[i] = Ci[i]! * tauTmp;
    D[i] = Ci[i]! * expWTx[i]! * tauTmp * tauTmp;
  }

  for (let newtonIter = 0; newtonIter < maxIter; newtonIter++) {
    let GmaxNew = 0;
    let Gnorm1New = 0;
    let activeSize = wSize;
    for (let s = 0; s < activeSize; s++) {
      const j = index[s]!;
      Hdiag[j] = nu;
      let tmp = 0;
      const { rows, values } = columns[j]!;
      for (let k = 0; k < rows.length; k++) {
        const ind = rows[k]!;
        Hdiag[j]! += values[k]! * values[k]! * D[ind]!;
        tmp += values[k]! * tau[ind]!;
      }
      Grad[j] = -tmp + xjnegSum[j]!;
      const violation = violationOf(w[j]!, Grad[j]!, GmaxOld / l);
      if (violation === null) {
        // Outer-level shrinking.
        activeSize--;
        swap(s, activeSize);
        s--;
        continue;
      }
      GmaxNew = Math.max(GmaxNew, violation);
      Gnorm1New += violation;
    }
    if (newtonIter === 0) Gnorm1Init = Gnorm1New;
    // The stopping rule: the summed violation against the first one's, or no QP update ten times.
    if (Gnorm1New <= eps * Gnorm1Init || QPNoChange >= 10) break;
    QPNoChange++;

    let iter = 0;
    let QPGmaxOld = Infinity;
    let QPActiveSize = activeSize;
    xTd.fill(0);
    // Coordinate descent on the quadratic model, over wpd.
    while (iter < maxInnerIter) {
      let QPGmaxNew = 0;
      let QPGnorm1New = 0;
      for (let j = 0; j < QPActiveSize; j++) swap(j + rng.boundedInt(QPActiveSize - j), j);
      for (let s = 0; s < QPActiveSize; s++) {
        const j = index[s]!;
        const H = Hdiag[j]!;
        const { rows, values } = columns[j]!;
        let G = Grad[j]! + (wpd[j]! - w[j]!) * nu;
        for (let k = 0; k < rows.length; k++) G += values[k]! * D[rows[k]!]! * xTd[rows[k]!]!;
        const Gp = G + 1;
        const Gn = G - 1;
        const violation = violationOf(wpd[j]!, G, QPGmaxOld / l);
        if (violation === null) {
          // Inner-level shrinking.
          QPActiveSize--;
          swap(s, QPActiveSize);
          s--;
          continue;
        }
        // The one-variable problem's solution.
        let z = Gp < H * wpd[j]! ? -Gp / H : Gn > H * wpd[j]! ? -Gn / H : -wpd[j]!;
        if (Math.abs(z) < 1.0e-12) continue;
        z = Math.min(Math.max(z, -10.0), 10.0);
        QPNoChange = 0;
        QPGmaxNew = Math.max(QPGmaxNew, violation);
        QPGnorm1New += violation;
        wpd[j]! += z;
        for (let k = 0; k < rows.length; k++) xTd[rows[k]!]! += values[k]! * z;
      }
      iter++;
      if (QPGnorm1New <= innerEps * Gnorm1Init) {
        if (QPActiveSize === activeSize) break;
        // Active set reactivation.
        QPActiveSize = activeSize;
        QPGmaxOld = Infinity;
        continue;
      }
      QPGmaxOld = QPGmaxNew;
    }

    let delta = 0;
    let wNormNew = 0;
    for (let j = 0; j < wSize; j++) {
      delta += Grad[j]! * (wpd[j]! - w[j]!);
      if (wpd[j] !== 0) wNormNew += Math.abs(wpd[j]!);
    }
    delta += wNormNew - wNorm;
    let negsumXTd = 0;
    for (let i = 0; i < l; i++) if (y[i] === -1) negsumXTd += Ci[i]! * xTd[i]!;

    // Armijo line search, halving the step.
    let numLinesearch = 0;
    for (; numLinesearch < maxNumLinesearch; numLinesearch++) {
      let cond = wNormNew - wNorm + negsumXTd - sigma * delta;
      for (let i = 0; i < l; i++) {
        const expXTd = Math.exp(xTd[i]!);
        expWTxNew[i] = expWTx[i]! * expXTd;
        cond += Ci[i]! * Math.log((1 + expWTxNew[i]!) / (expXTd + expWTxNew[i]!));
      }
      if (cond <= 0) {
        wNorm = wNormNew;
        w.set(wpd);
        for (let i = 0; i < l; i++) {
          expWTx[i] = expWTxNew[i]!;
          const tauTmp = 1 / (1 + expWTx[i]!);
          tau[i] = Ci[i]! * tauTmp;
          D[i] = Ci[i]! * expWTx[i]! * tauTmp * tauTmp;
        }
        break;
      }
      wNormNew = 0;
      for (let j = 0; j < wSize; j++) {
        wpd[j] = (w[j]! + wpd[j]!) * 0.5;
        if (wpd[j] !== 0) wNormNew += Math.abs(wpd[j]!);
      }
      delta *= 0.5;
      negsumXTd *= 0.5;
      for (let i = 0; i < l; i++) xTd[i]! *= 0.5;
    }
    // After too many line-search steps liblinear recomputes exp(w.x) (and only that) from w.
    if (numLinesearch >= maxNumLinesearch) {
      expWTx.fill(0);
      for (let j = 0; j < wSize; j++) {
        if (w[j] === 0) continue;
        const { rows, values } = columns[j]!;
        for (let k = 0; k < rows.length; k++) expWTx[rows[k]!]! += w[j]! * values[k]!;
      }
      for (let i = 0; i < l; i++) expWTx[i] = Math.exp(expWTx[i]!);
    }
    if (iter === 1) innerEps *= 0.25;
    GmaxOld = GmaxNew;
  }
  return Array.from(w);
}
