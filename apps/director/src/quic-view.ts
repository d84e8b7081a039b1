// A QUIC service as GET /v1/services/:name/quic shows it: the layout the dataplane reads (the
// config's `quic` resolved as the snapshot resolves it), which real server owns which server ID
// and whether its packets can be routed now, and the routing counters. Shared by the director
// and the in-memory control the API tests use.
import { type LiveConfig, quicLayout, realId } from '@sluice/config';
import type { QuicRoutingCounters, QuicServiceView } from './control.ts';

export const ZERO_QUIC_COUNTERS: Readonly<QuicRoutingCounters> = Object.freeze({
  longHeader: 0,
  cidRouted: 0,
  unknownServerId: 0,
  unroutable: 0,
  newPaths: 0,
  repointed: 0,
});

/**
 * The view of service `name` of `config` (validated), or null when it has no `quic`.
 * `macKnown(index of the real in the service)` says whether the real server can take frames.
 */
export function quicServiceView(
  config: LiveConfig,
  name: string,
  macKnown: (realAt: number) => boolean,
  counters: QuicRoutingCounters,
): QuicServiceView | null {
  const svc = config.services.find((s) => s.name === name);
  if (svc?.quic === undefined) return null;
  const l = quicLayout(svc.quic, `/services/${name}/quic`);
  return {
    service: name,
    layout: {
      algorithm: l.configId < 0 ? 'plain' : 'quic-lb-draft-20',
      serverIdOffset: l.serverIdOffset,
      serverIdLength: l.serverIdLength,
      cidLength: l.cidLength,
      configId: l.configId < 0 ? null : l.configId,
      lengthSelfEncoded: l.lengthSelfEncoded,
    },
    servers: svc.reals.map((r, i) => ({
      serverId: String(r.quicServerId),
      real: realId(r.address, r.port),
      routable: macKnown(i),
    })),
    counters: { ...counters },
  };
}
