// The smallest useful configuration: one TCP service (10.0.0.100:80, rr) with one real server
// (10.0.1.1:80, MAC 02:00:00:00:01:01) behind the VTEP `vtep`. Shared by the socket tests and the
// forward benchmark, which need a real server to send to and nothing else.
import type { ConfigSnapshot } from './snapshot.ts';

export function oneRealSnapshot(vtep: string, directorMac = '02:00:00:00:00:01'): ConfigSnapshot {
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
            upperThreshold: 0,
            lowerThreshold: 0,
          },
        ],
      },
    ],
  };
}
