import { describe, expect, it } from 'vitest';
import { DefenseError } from './errors.ts';
import { SynMemory } from './syn-memory.ts';

const V4 = [0, 0, 0xffff, (198 << 24) | (51 << 16) | (100 << 8) | 7] as const;
const PS = (40000 << 16) | 0;

describe('SynMemory', () => {
  it('knows a refused SYN when the same SYN comes back after the minimum gap, once', () => {
    const m = SynMemory.create(4096);
    m.remember(...V4, PS, 0x12345678, 1000);
    expect(m.seen(...V4, PS, 0x12345678, 700, 1500)).toBe(0); // too soon: a tool resending at once
    expect(m.seen(...V4, PS, 0x12345678, 700, 2000)).toBe(1); // a kernel's retry at 1 s
    expect(m.lastGapMs).toBe(1000);
    expect(m.seen(...V4, PS, 0x12345678, 700, 2100)).toBe(0); // one refusal, one credit
  });

  it('needs the same address, port, service and initial sequence number', () => {
    const m = SynMemory.create(4096);
    m.remember(...V4, PS, 99, 0);
    expect(m.seen(...V4, PS, 100, 700, 1000)).toBe(0); // another ISN: a new connection
    expect(m.seen(...V4, PS + (1 << 16), 99, 700, 1000)).toBe(0); // another port
    expect(m.seen(...V4, PS + 1, 99, 700, 1000)).toBe(0); // another service
    expect(m.seen(0, 0, 0xffff, V4[3] + 1, PS, 99, 700, 1000)).toBe(0); // another address
    expect(m.seen(...V4, PS, 99, 700, 1000)).toBe(1);
  });

  it('forgets refusals older than a SYN retry could be', () => {
    const m = SynMemory.create(1024);
    m.remember(...V4, PS, 5, 0);
    expect(m.seen(...V4, PS, 5, 700, 16_000)).toBe(0);
  });

  it('keeps most refusals under a flood that fills it, and workers share it', () => {
    const m = SynMemory.create(1 << 16);
    const other = SynMemory.attach(m.sab);
    for (let i = 0; i < 1000; i++) m.remember(0, 0, 0xffff, i, PS, i * 7, 0);
    // a flood of 10 000 other refusals (0.15 of the entries per refusal kept)
    for (let i = 0; i < 10_000; i++) other.remember(0, 0, 0xffff, 1_000_000 + i, PS, i, 500);
    let kept = 0;
    for (let i = 0; i < 1000; i++) kept += other.seen(0, 0, 0xffff, i, PS, i * 7, 700, 1000);
    // each survives 10 000 random overwrites of 65 536 entries with probability e^(-10000/65536)
    expect(kept).toBeGreaterThan(780);
    expect(kept).toBeLessThan(940);
  });

  it('rounds its size up to a power of two and rejects what it cannot hold', () => {
    expect(SynMemory.create(5000).entries).toBe(8192);
    expect(SynMemory.create(1).entries).toBe(1024);
    expect(() => SynMemory.create(0)).toThrow(DefenseError);
    expect(() => SynMemory.create(1.5)).toThrow(/synMemoryEntries|integer/);
    expect(() => SynMemory.attach(new SharedArrayBuffer(64))).toThrow(/SYN memory/);
  });
});
