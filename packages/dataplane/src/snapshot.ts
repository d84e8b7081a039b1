// The configuration snapshot: what a worker needs to classify packets, as plain data. The
// control plane builds one per change, msgpackr encodes it, and the ConfigMailbox hands the
// bytes to every worker; each worker compiles it (compile.ts) between two batches, so a packet
// is classified entirely under one version or entirely under the next, never half of each.

import type { VerificationSettings } from '@sluice/defense';
import type { SchedulerName } from '@sluice/schedulers';
import { Packr } from 'msgpackr';

export interface RealServerSnapshot {
  /** Global, stable index: live counters (ActiveConn, ...) are kept under it across changes. */
  index: number;
  address: string;
  port: number;
  /** The real server's MAC on the overlay: the forwarded frame's destination MAC. */
  mac: string;
  /** The real server's VTEP (outer) address; the port sends its frames there. */
  vtep: string;
  weight: number;
  /**
   * The weight the operator configured (the kernel's last_weight) when `weight` is 0 only because
   * the real server is draining, down or unresolved: Maglev keeps building its table from it, so
   * quiescing a real server moves no other server's flows. Defaults to `weight`.
   */
  lastWeight?: number;
  /** IPVS -x: connections at which it is overloaded; 0 = no limit. */
  upperThreshold: number;
  /** IPVS -y: connections under which it takes new ones again; 0 = 3/4 of the upper. */
  lowerThreshold: number;
  /** A QUIC service's real server: the server ID its connection IDs carry, in hex, exactly
   * `quic.serverIdLength` bytes. */
  quicServerId?: string;
}

/**
 * QUIC connection-ID routing (quic-route.ts): where the server ID sits in the destination
 * connection ID of a short header, so a client that changes address still reaches its server.
 */
export interface QuicSnapshot {
  /** Bytes from the start of the DCID to the server ID (1 under QUIC-LB: after the first octet). */
  serverIdOffset: number;
  /** The server ID's length in bytes. */
  serverIdLength: number;
  /** A short header does not carry its DCID's length: the servers' CID length, at least
   * serverIdOffset + serverIdLength (ignored when lengthSelfEncoded). */
  cidLength: number;
  /**
   * QUIC-LB (draft-ietf-quic-load-balancers-20, §2.1): the config rotation codepoint (0..6) the
   * first octet's top 3 bits must carry for the server ID to be read; -1: no QUIC-LB framing.
   */
  configId: number;
  /** QUIC-LB §2.3: the first octet's low 5 bits give the length of the rest of the CID. */
  lengthSelfEncoded: boolean;
}

export interface ServiceSnapshot {
  index: number;
  vip: string;
  port: number;
  protocol: 'tcp' | 'udp';
  scheduler: SchedulerName;
  /** IPVS -p/-M: prefixLength is of the 128-bit v4-mapped form for IPv4 (a /24 is 120). */
  persistence: { timeoutSeconds: number; prefixLength: number } | null;
  /** ipvsadm -b flags of sh and mh (sh-fallback, sh-port, mh-fallback, mh-port); absent: none. */
  schedulerFlags?: readonly string[];
  /** UDP only: route short-header QUIC packets by the server ID in their connection ID. */
  quic?: QuicSnapshot;
  reals: RealServerSnapshot[];
}

/** Source verification as workers get it: the defense package's settings. */
export type VerificationSnapshot = VerificationSettings;

/** The defense as workers need it: rule pools are global real-server indices. */
export interface DefenseSnapshot {
  strategy: 'priority' | 'none' | 'drop_entry' | 'drop_packet' | 'secure_tcp';
  highWatermark: number;
  lowWatermark: number;
  /** Default (absent): auto, 0.75, 10 s, 3600 s, 1000 ms. */
  verification?: VerificationSnapshot;
  /** Thresholds count every entry, closed and half-open ones too, as IPVS does (default false: what the servers hold). */
  countInactive?: boolean;
  lvs: { dropEntry: number; dropPacket: number; secureTcp: number; amemthresh: number; amDroprate: number };
  weights: Record<string, number>;
  rules: { cidr: string; priority: number; pool?: number[]; verify?: boolean }[];
  sourceChecks: { enabled: boolean; action: 'drop' | 'lowest'; prefixes?: string[]; allow?: string[] };
}

export interface ConfigSnapshot {
  version: number;
  vni: number;
  /** The director's MAC: ARP/ND answers for the VIPs carry it; forwarded frames come from it. */
  directorMac: string;
  /**
   * The director's own IPv4 address on the overlay (overlay health checks come from it): ARP
   * for it is answered like ARP for a VIP, and frames to it are handed to the control plane.
   */
  directorAddress?: string;
  services: ServiceSnapshot[];
  /** Per TCP state (IPVS numbering), milliseconds; defaults to IPVS's timeouts. */
  tcpTimeoutsMs?: number[];
  udpTimeoutMs?: number;
  /** Priority given to a new connection the defense does not score (0 = highest, 15 lowest). */
  defaultPriority?: number;
  /** Absent: strategy 'none'. */
  defense?: DefenseSnapshot;
}

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeSnapshot(snapshot: ConfigSnapshot): Uint8Array {
  return packr.pack(snapshot);
}

export function decodeSnapshot(bytes: Uint8Array): ConfigSnapshot {
  return packr.unpack(bytes) as ConfigSnapshot;
}
