// What the control-plane tests share: a live config with an IPv4 and an IPv6 service, a few
// connections, and an app built over a fresh in-memory director (closed by the caller).
import type { LiveConfig } from '@sluice/config';
import type { FastifyInstance } from 'fastify';
import type { ConnectionView } from '../control.ts';
import { MemoryDirectorControl } from './memory-control.ts';
import { buildControlPlane } from './server.ts';

export const TOKEN = 'test-token-4f1c9a';
export const AUTH = { authorization: `Bearer ${TOKEN}` };

// Not @sluice/config/testing's liveFixture: that one leaves defaults out (to test defaulting);
// this one is a LiveConfig spelled out whole, with the values the API tests assert on.
export function sampleConfig(): LiveConfig {
  const real = (address: string, port: number, vtep: string) => ({
    address,
    port,
    vtep,
    mac: null,
    weight: 1,
    upperThreshold: 0,
    lowerThreshold: 0,
    state: 'active' as const,
    healthCheck: null,
  });
  return {
    overlay: { vni: 4242, directorMac: '02:53:4c:00:00:01' },
    services: [
      {
        name: 'web',
        vip: '10.10.0.100',
        port: 80,
        protocol: 'tcp',
        scheduler: 'wlc',
        persistence: null,
        reals: [
          { ...real('10.10.1.1', 80, '192.168.53.11'), mac: '02:53:4c:00:01:01' },
          {
            ...real('10.10.1.2', 80, '192.168.53.12'),
            weight: 2,
            healthCheck: { type: 'tcp', intervalSeconds: 2, timeoutSeconds: 1, rise: 1, fall: 1 },
          },
        ],
      },
      {
        name: 'dns6',
        vip: '2001:db8::53',
        port: 53,
        protocol: 'udp',
        scheduler: 'rr',
        persistence: null,
        reals: [real('2001:db8:1::1', 53, '192.168.53.21')],
      },
    ],
  };
}

function connection(id: string, over: Partial<ConnectionView>): ConnectionView {
  return {
    id,
    service: 'web',
    protocol: 'tcp',
    client: { address: '198.51.100.7', port: 40000 },
    real: { address: '10.10.1.1', port: 80 },
    state: 'ESTABLISHED',
    priority: 3,
    initialPriority: 3,
    priorityReasons: ['verified', 'served'],
    packets: 12,
    synCount: 1,
    handshakeSeen: true,
    dataSeen: true,
    verified: true,
    held: true,
    serverProgress: true,
    awaitingSeconds: null,
    ageSeconds: 4.5,
    idleSeconds: 0.25,
    expiresInSeconds: 899.75,
    nextSeq: 3_000_000_000,
    ...over,
  };
}

export function sampleConnections(): ConnectionView[] {
  return [
    connection('0001-0a', {}),
    connection('0002-0b', {
      client: { address: '198.51.100.8', port: 40001 },
      state: 'SYN_RECV',
      dataSeen: false,
    }),
    connection('0003-0c', {
      client: { address: '203.0.113.9', port: 40002 },
      real: { address: '10.10.1.2', port: 80 },
    }),
    connection('0004-0d', {
      service: 'dns6',
      protocol: 'udp',
      client: { address: '2001:db8:ff::9', port: 5353 },
      real: { address: '2001:db8:1::1', port: 53 },
      state: 'UDP',
    }),
    connection('0005-0e', {
      client: { address: '198.51.100.7', port: 40003 },
      real: null,
      state: 'SYN_RECV',
    }),
  ];
}

export interface Harness {
  app: FastifyInstance;
  control: MemoryDirectorControl;
}

export function harness(): Harness {
  const control = new MemoryDirectorControl(sampleConfig(), sampleConnections());
  return { app: buildControlPlane(control, { token: TOKEN }), control };
}
