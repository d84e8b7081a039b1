// DefenseState: the little shared memory the defense loop (defense-loop.ts, on the director's
// main thread or the simulator's) writes and every worker's pipeline reads per SYN: whether a
// service is verifying sources (under pressure, or always), the challenge cookies' secret key, and
// the fair share of connections per source that the re-scorer computes. Workers only read it,
// with plain loads (a stale value for a moment is harmless: the next SYN reads the new one).
//
// Layout (Int32 words; the only place it is written down):
//   0 magic | 1 services | 2..5 SipHash key | 6 fair share | 7 active sources | 8 capacity
//   then, from word 12, per service: verifying (0/1)

import { DefenseError, DefenseErrorCode } from './errors.ts';

export const DefenseStateWord = {
  magic: 0,
  services: 1,
  key: 2,
  fairShare: 6,
  activeSources: 7,
  /** the real servers' upper thresholds summed (0: unbounded), for the fair share */
  capacity: 8,
  header: 12,
} as const;

const MAGIC = 0x44465354; // "DFST"

export class DefenseState {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly services: number;
  /** The SipHash key of the challenge cookies (4 words), a view into the shared buffer. */
  readonly key: Int32Array;

  static byteLength(services: number): number {
    return (DefenseStateWord.header + services) * 4;
  }

  /**
   * A new state for `services` services with a fresh random key (crypto-strength: the cookie is
   * the only thing a spoofer would have to guess). `key` (four words) for deterministic tests and
   * the simulator.
   */
  static create(services: number, key?: ArrayLike<number>): DefenseState {
    if (!Number.isInteger(services) || services < 1 || services > 0x10000) {
      throw new DefenseError(DefenseErrorCode.layout, 'services must be an integer from 1 to 65536');
    }
    const sab = new SharedArrayBuffer(DefenseState.byteLength(services));
    const i32 = new Int32Array(sab);
    i32[DefenseStateWord.magic] = MAGIC;
    i32[DefenseStateWord.services] = services;
    const k = new Int32Array(sab, DefenseStateWord.key * 4, 4);
    if (key !== undefined) for (let i = 0; i < 4; i++) k[i] = key[i] | 0;
    else crypto.getRandomValues(k);
    i32[DefenseStateWord.fairShare] = 0x7fffffff;
    return new DefenseState(sab);
  }

  static attach(sab: SharedArrayBuffer): DefenseState {
    return new DefenseState(sab);
  }

  private constructor(sab: SharedArrayBuffer) {
    const i32 = new Int32Array(sab);
    if (i32[DefenseStateWord.magic] !== MAGIC || sab.byteLength < DefenseState.byteLength(i32[1])) {
      throw new DefenseError(DefenseErrorCode.layout, 'buffer does not hold a defense state');
    }
    this.sab = sab;
    this.i32 = i32;
    this.services = i32[DefenseStateWord.services];
    this.key = new Int32Array(sab, DefenseStateWord.key * 4, 4);
  }

  /** 1 while service `svc` answers unverified SYNs with a challenge instead of forwarding them. */
  verifying(svc: number): number {
    return this.i32[DefenseStateWord.header + svc];
  }

  setVerifying(svc: number, on: number): void {
    Atomics.store(this.i32, DefenseStateWord.header + svc, on);
  }

  /** Connections one source may hold before its connections are penalised (re-scorer). */
  fairShare(): number {
    return this.i32[DefenseStateWord.fairShare];
  }

  setFairShare(share: number, activeSources: number): void {
    Atomics.store(this.i32, DefenseStateWord.fairShare, share);
    Atomics.store(this.i32, DefenseStateWord.activeSources, activeSources);
  }

  activeSources(): number {
    return Atomics.load(this.i32, DefenseStateWord.activeSources);
  }

  /** The cluster's capacity as the defense loop last published it (0: no thresholds). */
  capacity(): number {
    return Atomics.load(this.i32, DefenseStateWord.capacity);
  }

  setCapacity(capacity: number): void {
    Atomics.store(this.i32, DefenseStateWord.capacity, capacity);
  }
}
