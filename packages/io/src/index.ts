// @sluice/io: batched UDP socket I/O for the serving workers. The public face of the sluice_io
// Node-API addon (native/sluice_io.c, built at `npm ci` by scripts/build.mjs): its typed
// interface, the word layouts of its receive and send lists, whether it loaded (and why not),
// the choice between it and Node's dgram, and the kernel's UDP drop counters.
//
// The per-batch calls (recv, send, wait) never throw: they return a count or a negative errno,
// as the packet codecs return a status. Only loading and choosing throw, once, at startup.
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

/** The addon's functions. `fd` is a socket number returned by `open`; any other is -EBADF. */
export interface NativeIo {
  /** A non-blocking UDP socket bound to an IPv4 address (port 0 picks one): fd | -errno. */
  open(
    address: string,
    port: number,
    flags: number,
    receiveBufferBytes: number,
    sendBufferBytes: number,
  ): number;
  /** The bound port | -errno. */
  localPort(fd: number): number;
  /**
   * recvmmsg of up to `max` datagrams into slots `first .. first + max - 1` of `data` (slot i
   * at `i * slotBytes`), with `meta[i * RecvWord.words + RecvWord.*]` filled: count (0 when
   * nothing waits) | -errno. A datagram longer than its slot is cut, flagged and keeps its real
   * length in `RecvWord.length`.
   */
  recv(fd: number, data: Uint8Array, slotBytes: number, first: number, max: number, meta: Int32Array): number;
  /**
   * sendmmsg of `count` frames listed in `list` (SendWord layout): frames sent | -errno. With
   * `SendFlag.gso`, runs of same-destination, same-length frames go as one UDP_SEGMENT message.
   */
  send(fd: number, data: Uint8Array, list: Int32Array, count: number, flags?: number): number;
  /** Blocks this thread until the socket is readable or `timeoutMs` passed: 1 | 0 | -errno. */
  wait(fd: number, timeoutMs: number): number;
  /** Datagrams the kernel dropped for this socket (its receive buffer was full) | -errno. */
  drops(fd: number): number;
  close(fd: number): number;
  /** madvise(MADV_HUGEPAGE) on the 2 MiB-aligned part of a big buffer: bytes advised | -errno. */
  adviseHugePages(view: ArrayBufferView): number;
  /** Most datagrams one recv or send moves. */
  readonly MAX_BATCH: number;
  readonly RECV_WORDS: number;
  readonly SEND_WORDS: number;
  readonly SEND_GSO: number;
  readonly ABI: number;
}

/** Words per slot of recv's `meta` (Int32Array). Addresses are IPv4 in host order (read `>>> 0`). */
export const RecvWord = { length: 0, address: 1, port: 2, flags: 3, words: 4 } as const;
/** Words per frame of send's `list` (Int32Array). */
export const SendWord = { offset: 0, length: 1, address: 2, port: 3, words: 4 } as const;
export const RecvFlag = { truncated: 1 } as const;
export const OpenFlag = { reusePort: 1 } as const;
export const SendFlag = { gso: 1 } as const;
/** The addon's interface version this wrapper speaks (the addon's `ABI`). */
const ABI = 1;

export const IoErrorCode = {
  /** `daemon.io: "native"` was asked for but the addon did not load */
  unavailable: 'SLUICE_ERR_IO_UNAVAILABLE',
  /** an io choice other than native, dgram or auto */
  choice: 'SLUICE_ERR_IO_CHOICE',
} as const;
export type IoErrorCode = (typeof IoErrorCode)[keyof typeof IoErrorCode];

export class IoError extends Error {
  readonly code: IoErrorCode;
  constructor(code: IoErrorCode, message: string) {
    super(message);
    this.name = 'IoError';
    this.code = code;
  }
}

/** Where the addon is loaded from: SLUICE_IO_ADDON overrides the build output. */
export function nativeIoPath(): string {
  return process.env.SLUICE_IO_ADDON || fileURLToPath(new URL('../build/sluice_io.node', import.meta.url));
}

/** A C tool built beside the addon (`sluice-relay`, `sluice-gen`): its path, built or not. */
export function nativeToolPath(name: 'sluice-relay' | 'sluice-gen'): string {
  return fileURLToPath(new URL(`../build/${name}`, import.meta.url));
}

/**
 * `sluice-gen`'s input, a frames file: each datagram as a 2-byte big-endian length and its bytes
 * (tools/gen.c reads it). Datagrams of 64 KiB or more do not fit a record: refused.
 */
export function encodeFramesFile(frames: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const f of frames) {
    if (f.length > 0xffff)
      throw new RangeError(`a frame of ${f.length} bytes does not fit a frames-file record`);
    size += 2 + f.length;
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (const f of frames) {
    out[o] = f.length >>> 8;
    out[o + 1] = f.length & 0xff;
    out.set(f, o + 2);
    o += 2 + f.length;
  }
  return out;
}

let loaded: NativeIo | null = null;
let loadError: string | null = null;
let tried = false;

function load(): void {
  if (tried) return;
  tried = true;
  const file = nativeIoPath();
  if (process.platform !== 'linux') {
    loadError = `recvmmsg/sendmmsg need Linux, this is ${process.platform}`;
    return;
  }
  try {
    const mod = createRequire(import.meta.url)(file) as NativeIo;
    if (mod.ABI !== ABI) {
      loadError = `${file} speaks interface ${mod.ABI}, this code ${ABI}: rebuild it (npm run --workspace @sluice/io build)`;
      return;
    }
    loaded = mod;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    loadError =
      e.code === 'MODULE_NOT_FOUND'
        ? `${file} is not built (no C compiler at install? apt-get install build-essential, then npm run --workspace @sluice/io build)`
        : `${file} did not load: ${e.message.split('\n')[0]}`;
  }
}

/** True when the addon loaded in this thread. */
export function isNativeIoAvailable(): boolean {
  load();
  return loaded !== null;
}

/** Why the addon is unavailable, or null when it loaded. */
export function nativeIoLoadError(): string | null {
  load();
  return loadError;
}

/** The addon; throws IoError(SLUICE_ERR_IO_UNAVAILABLE) with the reason when it did not load. */
export function nativeIo(): NativeIo {
  load();
  if (loaded === null) throw new IoError(IoErrorCode.unavailable, `native I/O unavailable: ${loadError}`);
  return loaded;
}

/**
 * Asks for transparent huge pages under a big shared table (the connection table): fewer TLB
 * misses per lookup. A no-op (returns 0) without the addon or off Linux; never throws.
 */
export function adviseHugePages(sab: SharedArrayBuffer | ArrayBuffer): number {
  if (!isNativeIoAvailable() || loaded === null) return 0;
  return loaded.adviseHugePages(new Uint8Array(sab));
}

export type IoChoice = 'native' | 'dgram' | 'auto';
export const IO_CHOICES: readonly IoChoice[] = ['native', 'dgram', 'auto'];

export interface IoSelection {
  io: 'native' | 'dgram';
  /** Why: 'configured', 'addon loaded', or the load error that forced the fallback. */
  reason: string;
  /** True when `auto` had to fall back to dgram (the caller logs `reason` once). */
  fellBack: boolean;
}

/**
 * Resolves the operator's `daemon.io`: `auto` takes the addon when it loads and dgram otherwise;
 * `native` without the addon is an error (an operator who asked for it wants to know at start).
 */
export function selectIo(choice: IoChoice): IoSelection {
  if (choice === 'dgram') return { io: 'dgram', reason: 'configured', fellBack: false };
  if (choice !== 'native' && choice !== 'auto') {
    throw new IoError(
      IoErrorCode.choice,
      `io must be one of ${IO_CHOICES.join(', ')}, not ${String(choice)}`,
    );
  }
  if (isNativeIoAvailable())
    return { io: 'native', reason: choice === 'native' ? 'configured' : 'addon loaded', fellBack: false };
  if (choice === 'native') nativeIo(); // throws with the reason
  return { io: 'dgram', reason: loadError ?? 'unknown', fellBack: true };
}

const errnoNames: string[] = [];
for (const [name, value] of Object.entries(constants.errno)) {
  if (errnoNames[value] === undefined) errnoNames[value] = name;
}

/** 'EAGAIN' for -11 (or 11); 'E?<n>' for a number the platform does not name. */
export function errnoName(status: number): string {
  const n = Math.abs(status);
  return errnoNames[n] ?? `E?${n}`;
}

/** 'a.b.c.d' → the host-order 32-bit value send wants (as a signed int32); -1 when malformed. */
export function ipv4ToInt(address: string): number {
  const parts = address.split('.');
  if (parts.length !== 4) return -1;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return -1;
    const b = Number(p);
    if (b > 255) return -1;
    v = (v << 8) | b;
  }
  // 255.255.255.255 is a valid address whose int32 is -1: callers send to unicast VTEPs only.
  return v | 0;
}

/** The host-order value recv reports → 'a.b.c.d'. */
export function intToIpv4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export { parseUdpSnmp, readUdpCounters, type UdpCounters } from './snmp.ts';
