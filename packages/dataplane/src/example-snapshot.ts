// The smallest useful configuration: one TCP service (10.0.0.100:80, rr) with one real server
// (10.0.1.1:80, MAC 02:00:00:00:01:01) behind the VTEP `vtep`, optionally with a capacity (its
// upper threshold). Shared by the socket tests, the defense tests and the forward benchmark.
import type { ConfigSnapshot } from './snapshot.ts';

export function oneRealSnapshot(
  vtep: string,
  directorMac = '02:00:00:00:00:01',
  upperThreshold = 0,
): ConfigSnapshot {
  return {
    version: 1,
    vni: 42,
    directorMac,
    services: [
      {
        index: 0,
        vip: '10.0.0.100',
        port: 80,
        protocol: 'tcp',
        scheduler: 'rr',
        persistence: null,
        reals: [
          {
            index: 0,
            address: '10.0.1.1',
            port: 80,
            mac: '02:00:00:00:01:01',
            vtep,
            weight: 1,
            upperThreshold,
            lowerThreshold: 0,
          },
        ],
      },
    ],
  };
}
