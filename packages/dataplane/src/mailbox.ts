// ConfigMailbox: one writer (the control plane) publishes encoded snapshots; every worker polls
// one word per batch and, when the version moved, copies the new bytes out. Two halves: the
// writer fills the half no reader is told about, then flips `active` and bumps `version`; a
// reader that sees the version change under its copy simply copies again.

const H = { version: 0, active: 1, len0: 2, len1: 3, words: 4 } as const;

export class MailboxFullError extends Error {
  readonly code = 'SLUICE_ERR_CONFIG_TOO_LARGE';
}

export class ConfigMailbox {
  readonly sab: SharedArrayBuffer;
  private readonly header: Int32Array;
  private readonly bytes: Uint8Array;
  readonly halfBytes: number;

  static create(halfBytes = 1 << 20): ConfigMailbox {
    return new ConfigMailbox(new SharedArrayBuffer(H.words * 4 + 2 * halfBytes));
  }

  static attach(sab: SharedArrayBuffer): ConfigMailbox {
    return new ConfigMailbox(sab);
  }

  private constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.header = new Int32Array(sab, 0, H.words);
    this.bytes = new Uint8Array(sab, H.words * 4);
    this.halfBytes = this.bytes.length / 2;
  }

  /** The version last published (0 = none yet). One atomic load: cheap enough for every batch. */
  version(): number {
    return Atomics.load(this.header, H.version);
  }

  /** Throws MailboxFullError when `encoded` would not fit (before anything is changed). */
  checkFits(encoded: Uint8Array): void {
    if (encoded.length > this.halfBytes) {
      throw new MailboxFullError(
        `the config's snapshot is ${encoded.length} bytes encoded; the workers' mailbox holds ${this.halfBytes}: fewer services or real servers`,
      );
    }
  }

  publish(encoded: Uint8Array, version: number): void {
    this.checkFits(encoded);
    const half = 1 - Atomics.load(this.header, H.active);
    this.bytes.set(encoded, half * this.halfBytes);
    Atomics.store(this.header, H.len0 + half, encoded.length);
    Atomics.store(this.header, H.active, half);
    Atomics.store(this.header, H.version, version);
  }

  /** Copies out the current snapshot bytes with their version, or null when none was published. */
  read(): { version: number; bytes: Uint8Array } | null {
    for (let tries = 0; tries < 100; tries++) {
      const v = Atomics.load(this.header, H.version);
      if (v === 0) return null;
      const half = Atomics.load(this.header, H.active);
      const len = Atomics.load(this.header, H.len0 + half);
      const copy = this.bytes.slice(half * this.halfBytes, half * this.halfBytes + len);
      if (Atomics.load(this.header, H.version) === v) return { version: v, bytes: copy };
    }
    return null;
  }
}
