// The example configuration tests and benchmarks share (through `@sluice/dataplane/testing`,
// never the public index): one TCP service, 10.0.0.100:80, with `reals` real servers 10.0.1.1,
// 10.0.1.2, ... on port 80 (MACs 02:00:00:00:01:01, ...), each behind the VTEP `vtep(i)`.
import type { SchedulerName } from '@sluice/schedulers';
import type { ConfigSnapshot } from './snapshot.ts';

export interface ExampleSnapshotOptions {
  /** Real servers (default 1). */
  reals?: number;
  /** The VTEP of real server i (default 192.168.0.<i+1>). */
  vtep?: (i: number) => string;
  directorMac?: string;
  scheduler?: SchedulerName;
  /** Every real server's upper threshold, its capacity (default 0: none). */
  upperThreshold?: number;
  vni?: number;
  /** Real server i's weight (default 1 each); its length, if given, is the number of reals. */
  weights?: readonly number[];
}

export function exampleSnapshot(opts: ExampleSnapshotOptions = {}): ConfigSnapshot {
  const vtep = opts.vtep ?? ((i: number) => `192.168.0.${i + 1}`);
  return {
    version: 1,
    vni: opts.vni ?? 42,
    directorMac: opts.directorMac ?? '02:00:00:00:00:01',
    services: [
      {
        index: 0,
        vip: '10.0.0.100',
        port: 80,
        protocol: 'tcp',
        scheduler: opts.scheduler ?? 'rr',
        persistence: null,
        reals: Array.from({ length: opts.weights?.length ?? opts.reals ?? 1 }, (_, i) => ({
          index: i,
          address: `10.0.1.${i + 1}`,
          port: 80,
          mac: `02:00:00:00:01:${(i + 1).toString(16).padStart(2, '0')}`,
          vtep: vtep(i),
          weight: opts.weights?.[i] ?? 1,
          upperThreshold: opts.upperThreshold ?? 0,
          lowerThreshold: 0,
        })),
      },
    ],
  };
}

/** The example with one real server (10.0.1.1:80) behind `vtep`: the socket tests' and benchmarks'. */
export function oneRealSnapshot(
  vtep: string,
  directorMac = '02:00:00:00:00:01',
  upperThreshold = 0,
): ConfigSnapshot {
  return exampleSnapshot({ vtep: () => vtep, directorMac, upperThreshold });
}
