// The configuration `npm start` runs when there is no config file: one web service on the
// overlay with two real servers. All addresses are for documentation and labs: 10.42.0.0/24 is
// private overlay space, 192.0.2.0/24 (TEST-NET-1, RFC 5737) stands in for the VTEPs' underlay.
// The MACs are left to be learned, so the director sends nothing to a real server until it has
// answered ARP through its VTEP.
import type { ConfigFile } from './schema.ts';

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Frozen: pass it through validateConfigFile (or structuredClone) to get a copy to change. */
export const DEMO_CONFIG: ConfigFile = deepFreeze({
  daemon: {
    vxlan: { address: '0.0.0.0', port: 4789 },
    api: { address: '127.0.0.1', port: 9180 },
    workers: 1,
    io: 'auto',
    connectionCapacity: 1 << 18,
  },
  overlay: { vni: 42, directorMac: '02:5c:00:00:00:01' },
  services: [
    {
      name: 'web',
      vip: '10.42.0.100',
      port: 80,
      protocol: 'tcp',
      scheduler: 'wlc',
      persistence: null,
      reals: [11, 12].map((n) => ({
        address: `10.42.0.${n}`,
        port: 80,
        vtep: `192.0.2.${n}`,
        mac: null,
        weight: 1,
        upperThreshold: 0,
        lowerThreshold: 0,
        state: 'active' as const,
        healthCheck: { type: 'tcp' as const, intervalSeconds: 2, timeoutSeconds: 1, rise: 1, fall: 1 },
      })),
    },
  ],
});
