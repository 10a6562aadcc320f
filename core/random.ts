/** mulberry32: a small deterministic 32-bit PRNG, uniform in [0, 1); the same sequence from a seed everywhere. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const N = 624;

/** MT19937's init_genrand: the state for a 32-bit seed. */
function initGenrand(seed: number): Uint32Array {
  const mt = new Uint32Array(N);
  mt[0] = seed >>> 0;
  for (let i = 1; i < N; i++) {
    const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
    mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
  }
  return mt;
}

/**
 * MT19937, as numpy's RandomState and CPython's random module run it: seeded from a 32-bit integer
 * (init_genrand) or from an array of 32-bit words (init_by_array, CPython's seeding of a big integer).
 */
export class Mt19937 {
  private index = N;

  protected constructor(private readonly mt: Uint32Array) {}

  static fromKey(key: readonly number[]): Mt19937 {
    const mt = initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = ((mt[i]! ^ Math.imul(prev, 1664525)) + key[j]! + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = ((mt[i]! ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
    }
    mt[0] = 0x80000000;
    return new Mt19937(mt);
  }

  /** genrand_int32: the next 32-bit output. */
  nextUint32(): number {
    const mt = this.mt;
    if (this.index >= N) {
      for (let k = 0; k < N; k++) {
        const y = (mt[k]! & 0x80000000) | (mt[(k + 1) % N]! & 0x7fffffff);
        mt[k] = mt[(k + 397) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = mt[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
}

/**
 * numpy's legacy global generator (`np.random.seed(seed)`, RandomState over MT19937), bit for bit:
 * the official Arena-Hard script draws its bootstrap resamples from it, so an interval equals the
 * official one only when the same integers come out. Seeding is MT19937's init_genrand (numpy's
 * `_legacy_seeding` for an int seed); `randint` is numpy's bounded draw for int64 with a range below
 * 2^32: a 32-bit output masked to the smallest covering power of two, rejected until in range.
 */
export class NumpyRandomState extends Mt19937 {
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
      throw new RangeError(`seed ${seed}: numpy takes an integer seed in [0, 2^32 - 1]`);
    super(initGenrand(seed));
  }

  /** `randint(0, n, size)`: `size` integers in [0, n), n at most 2^32. */
  randint(n: number, size: number): number[] {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`randint: bad bound ${n}`);
    const rng = n - 1;
    if (rng === 0) return new Array<number>(size).fill(0);
    if (rng === 0xffffffff) return Array.from({ length: size }, () => this.nextUint32());
    let mask = rng;
    for (const shift of [1, 2, 4, 8, 16]) mask |= mask >>> shift;
    return Array.from({ length: size }, () => {
      let value: number;
      do value = (this.nextUint32() & mask) >>> 0;
      while (value > rng);
      return value;
    });
  }
}
