/**
 * CPython's `random.Random(seed).random()` for a str seed (seed version 2: the string's UTF-8 bytes
 * followed by their SHA-512, read as one big-endian integer, fed to MT19937's init_by_array). AlpacaEval
 * decides which output is shown first with it, so evolve reproduces the draw bit for bit.
 */
import { createHash } from 'node:crypto';
import { Mt19937 } from '../../core/random.js';

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
  const mt = Mt19937.fromKey(keyWords(Buffer.concat([utf8, createHash('sha512').update(utf8).digest()])));
  return () => ((mt.nextUint32() >>> 5) * 67108864 + (mt.nextUint32() >>> 6)) / 9007199254740992;
}
