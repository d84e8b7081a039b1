import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RealServerCounters } from './counters.ts';
import { createScheduler } from './create.ts';
import { hash32 } from './hash.ts';
import { DestinationHashing, dealBuckets, HASH_TAB_SIZE, SourceHashing } from './hashing.ts';
import { flow4, flow6, specOf } from './test-helpers.ts';

describe('the 256-bucket deal (ip_vs_sh_reassign)', () => {
  it('gives each member `weight` consecutive buckets in turn; weight 0 still holds one', () => {
    const b = dealBuckets(Int32Array.from([2, 0, 1]));
    expect(Array.from(b.subarray(0, 8))).toEqual([0, 0, 1, 2, 0, 0, 1, 2]);
    const counts = [0, 0, 0];
    for (const x of dealBuckets(Int32Array.from([1, 2, 1]))) counts[x]++;
    expect(counts).toEqual([64, 128, 64]);
    expect(Array.from(dealBuckets(new Int32Array(0))).every((x) => x === -1)).toBe(true);
  });
});

describe('sh (ip_vs_sh.c)', () => {
  it('hashes the source with hash_32(addr, 8): 10.0.0.1 lands in the bucket computed by hand', () => {
    const s = new SourceHashing(specOf([1, 1]), RealServerCounters.create(2));
    // 0x0a000000 * 0x61c88647 ≡ 0xc6000000 (mod 2^32: only 10 * 0x47 = 0x2c6 reaches the top
    // byte); + 0x61c88647 = 0x127c88647 ≡ 0x27c88647; the top 8 bits are 0x27 = 39.
    expect(s.bucketOf(flow4(0x0a000001))).toBe(39);
    // --sh-port adds the source port before hashing.
    const p = new SourceHashing(specOf([1, 1]), RealServerCounters.create(2), { shPort: true });
    expect(p.bucketOf(flow4(0x0a000001, 1000))).toBe(hash32(0x0a000001 + 1000, 8));
  });

  it('keeps a source on one member, whatever its port, and spreads sources by weight', () => {
    const c = RealServerCounters.create(3);
    const s = createScheduler('sh', specOf([1, 2, 1]), c);
    const counts = [0, 0, 0];
    for (let i = 0; i < 20000; i++) {
      const src = 0x0a000000 + i * 7919;
      const p = s.pick(flow4(src, 1024 + (i % 5000)));
      expect(s.pick(flow4(src, 60000))).toBe(p);
      counts[p]++;
    }
    expect(counts[1] / 20000).toBeGreaterThan(0.4);
    expect(counts[1] / 20000).toBeLessThan(0.6);
  });

  it('with --sh-port the port takes part', () => {
    const s = createScheduler('sh', specOf([1, 1, 1, 1]), RealServerCounters.create(4), { shPort: true });
    const seen = new Set<number>();
    for (let port = 1000; port < 1100; port++) seen.add(s.pick(flow4(0x0a000001, port)));
    expect(seen.size).toBe(4);
  });

  it('folds IPv6 sources by XOR, as the kernel does', () => {
    const s = createScheduler('sh', specOf([1, 1, 1, 1, 1]), RealServerCounters.create(5));
    const a = [0x20010db8, 0x1, 0x2, 0x3];
    const b = [0x20010db8 ^ 0x10, 0x1 ^ 0x10, 0x2, 0x3]; // same XOR fold
    expect(s.pick(flow6(a, [0, 0, 0, 1]))).toBe(s.pick(flow6(b, [0, 0, 0, 2])));
  });

  it('without fallback an unavailable member means -1 for its sources', () => {
    const c = RealServerCounters.create(2);
    const s = createScheduler('sh', specOf([1, 1]), c);
    const src = [...Array(64).keys()].map((i) => 0x0a000000 + i);
    const before = src.map((x) => s.pick(flow4(x)));
    c.setDown(0, true);
    src.forEach((x, i) => {
      expect(s.pick(flow4(x))).toBe(before[i] === 0 ? -1 : before[i]);
    });
  });

  it("falls back along the kernel's probe order: buckets 2 * h, 2 * h + 1, … (mod 256)", () => {
    // 256 members of weight 1: bucket b holds member b, so the probe order is visible.
    const c = RealServerCounters.create(256);
    const s = new SourceHashing(specOf(new Array(256).fill(1)), c, { shFallback: true });
    const fl = flow4(0x0a000001);
    const h = s.bucketOf(fl); // 39: the probes start at 78
    expect(s.pick(fl)).toBe(h);
    c.setDown(h, true);
    expect(s.pick(fl)).toBe((2 * h) & 255);
    c.setDown((2 * h) & 255, true);
    expect(s.pick(fl)).toBe((2 * h + 1) & 255);
  });

  it('with fallback, a member going down or overloaded moves only its own sources (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 2, maxLength: 8 }),
        fc.array(fc.integer(), { minLength: 50, maxLength: 200 }),
        fc.nat(),
        fc.boolean(),
        (weights, srcs, goneRaw, overload) => {
          if (!weights.some((w) => w > 0)) weights[0] = 1;
          const c = RealServerCounters.create(weights.length);
          const s = createScheduler('sh', specOf(weights), c, { shFallback: true });
          const before = srcs.map((x) => s.pick(flow4(x)));
          const gone = goneRaw % weights.length;
          if (overload) c.bind(gone, false, 1, 0);
          else c.setDown(gone, true);
          const stillAny = weights.some((w, i) => w > 0 && i !== gone);
          srcs.forEach((x, i) => {
            const after = s.pick(flow4(x));
            if (before[i] !== gone) expect(after).toBe(before[i]);
            else if (stillAny) expect(after === gone || after < 0).toBe(false);
            else expect(after).toBe(-1);
          });
        },
      ),
    );
  });

  it('quiescing a weight-1 member (weight 0) keeps the deal: only its sources move', () => {
    const c = RealServerCounters.create(4);
    const s1 = createScheduler('sh', specOf([1, 1, 1, 1]), c, { shFallback: true });
    const s2 = createScheduler('sh', specOf([1, 1, 0, 1]), c, { shFallback: true });
    for (let i = 0; i < 5000; i++) {
      const fl = flow4(0xc0a80000 + i * 13);
      const a = s1.pick(fl);
      const b = s2.pick(fl);
      if (a === 2) expect(b).not.toBe(2);
      else expect(b).toBe(a);
    }
  });

  it('returns -1 with no members', () => {
    expect(createScheduler('sh', specOf([]), RealServerCounters.create(1)).pick(flow4(1))).toBe(-1);
  });
});

describe('dh (ip_vs_dh.c)', () => {
  it('keys on the destination address only', () => {
    const c = RealServerCounters.create(4);
    const s = new DestinationHashing(specOf([1, 1, 1, 1]), c);
    const dst = 0x0a000001;
    const a = s.pick(flow4(1, 1, dst));
    for (let i = 0; i < 100; i++) expect(s.pick(flow4(i * 31, i, dst, 443))).toBe(a);
    expect(s.bucketOf(flow4(1, 1, dst))).toBe(hash32(dst, 8));
    const seen = new Set<number>();
    for (let d = 0; d < 200; d++) seen.add(s.pick(flow4(1, 1, 0xc0a80000 + d)));
    expect(seen.size).toBe(4);
  });

  it('returns -1 when the hashed member is unavailable (no fallback in the kernel)', () => {
    const c = RealServerCounters.create(2);
    const s = createScheduler('dh', specOf([1, 1]), c);
    const fl = flow4(1, 1, 0x0a000001);
    const a = s.pick(fl);
    c.setDown(a, true);
    expect(s.pick(fl)).toBe(-1);
  });

  it('weights replicate buckets', () => {
    const s = new DestinationHashing(specOf([3, 1]), RealServerCounters.create(2));
    const counts = [0, 0];
    for (let b = 0; b < HASH_TAB_SIZE; b++) counts[dealBuckets(Int32Array.from([3, 1]))[b]]++;
    expect(counts).toEqual([192, 64]);
    let zero = 0;
    for (let d = 0; d < 10000; d++) if (s.pick(flow4(1, 1, d * 2654435761)) === 0) zero++;
    expect(zero / 10000).toBeGreaterThan(0.65);
    expect(zero / 10000).toBeLessThan(0.85);
  });
});
