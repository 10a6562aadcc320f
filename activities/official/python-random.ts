/**
 * CPython's `random.Random(seed).random()` for a str seed (seed version 2: the string's UTF-8 bytes
 * followed by their SHA-512, read as one big-endian integer, fed to MT19937's init_by_array). AlpacaEval
 * decides which output is shown first with it, so evolve reproduces the draw bit for bit.
 */
import { createHash } from 'node:crypto';

const N = 624;
const M = 397;

class Mt19937 {
  private readonly mt = new Uint32Array(N);
  private index = N + 1;

  constructor(key: readonly number[]) {
    this.initGenrand(19650218);
    const mt = this.mt;
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
  }

  private initGenrand(s: number) {
    this.mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = this.mt[i - 1]! ^ (this.mt[i - 1]! >>> 30);
      this.mt[i] = (Math.imul(prev, 1812433253) + i) >>> 0;
    }
    this.index = N;
  }

  uint32(): number {
    const mt = this.mt;
    if (this.index >= N) {
      for (let k = 0; k < N; k++) {
        const y = (mt[k]! & 0x80000000) | (mt[(k + 1) % N]! & 0x7fffffff);
        mt[k] = mt[(k + M) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
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

/** The 32-bit words of a non-negative big-endian integer, least significant first, as CPython seeds them. */
function keyWords(bytes: Uint8Array): number[] {
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start++;
  const significant = bytes.subarray(start);
  if (significant.length === 0) return [0];
  const padded = new Uint8Array(Math.ceil(significant.length / 4) * 4);
  padded.set(significant, padded.length - significant.length);
  const words: number[] = [];
  for (let end = padded.length; end > 0; end -= 4)
    words.push(
      ((padded[end - 4]! << 24) | (padded[end - 3]! << 16) | (padded[end - 2]! << 8) | padded[end - 1]!) >>>
        0,
    );
  return words;
}

/** `random.Random(seed)` for a str seed: its `random()` stream. */
export function pythonRandom(seed: string): () => number {
  const utf8 = Buffer.from(seed, 'utf8');
  const mt = new Mt19937(keyWords(Buffer.concat([utf8, createHash('sha512').update(utf8).digest()])));
  return () => ((mt.uint32() >>> 5) * 67108864 + (mt.uint32() >>> 6)) / 9007199254740992;
}
