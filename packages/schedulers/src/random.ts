// The random numbers `twos` draws. The kernel calls get_random_u32_below() (its CSPRNG); a
// scheduler needs no secrecy, only uniform, independent draws that cost nothing per pick, so each
// scheduler holds a Xoshiro128** generator (Blackman and Vigna, "Scrambled Linear Pseudorandom
// Number Generators", 2018): four 32-bit words of state, Math.imul and shifts, no allocation.
// Seeded from crypto by default, so two workers do not draw the same sequence; tests inject a seed.
import { randomFillSync } from 'node:crypto';

/** What a scheduler draws from: get_random_u32_below(bound), uniform in [0, bound). */
export interface RandomSource {
  /** A uniform integer in [0, bound); bound is an integer 1..2^32. */
  below(bound: number): number;
}

const TWO_32 = 4294967296;

export class Xoshiro128 implements RandomSource {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** The state is filled from `seed` by SplitMix32, so any seed (even 0) gives a good state. */
  constructor(seed: number) {
    let x = seed | 0;
    const next = () => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) | 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** A generator in a given state (not all zero), as the reference implementation is tested. */
  static fromState(s0: number, s1: number, s2: number, s3: number): Xoshiro128 {
    const g = new Xoshiro128(0);
    g.s0 = s0 | 0;
    g.s1 = s1 | 0;
    g.s2 = s2 | 0;
    g.s3 = s3 | 0;
    return g;
  }

  /** A seed from the operating system's CSPRNG (called once per scheduler, off the packet path). */
  static randomSeed(): number {
    const word = new Int32Array(1);
    randomFillSync(word);
    return word[0];
  }

  /** The next 32 random bits, as an unsigned number. */
  nextU32(): number {
    const s0 = this.s0;
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    let s2 = this.s2 ^ s0;
    let s3 = this.s3 ^ s1;
    this.s1 = s1 ^ s2;
    this.s0 = s0 ^ s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    this.s2 = s2;
    this.s3 = s3;
    return result >>> 0;
  }

  /**
   * Uniform in [0, bound) by rejection: draws at or above the largest multiple of `bound` are
   * drawn again (fewer than half of them, whatever the bound), so no value is favoured. The
   * kernel's get_random_u32_below() rejects too (Lemire's multiply-shift); the draws differ, the
   * distribution does not.
   */
  below(bound: number): number {
    const limit = TWO_32 - (TWO_32 % bound);
    let r = this.nextU32();
    while (r >= limit) r = this.nextU32();
    return r % bound;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
