// The lab on real kernels (needs root). Without the director, a minimal fixture VTEP in this test
// process stands in for it, so what is proven is the lab itself: the namespaces' kernels carry a
// client's curl through a userspace VTEP to a real server and the reply straight back (DSR), over
// IPv4 and IPv6, at full MTU, and the reals stay silent for the VIPs' ARP/ND. A machine that cannot
// run the lab fails here with LabUnavailableError's reason: never a silent skip.
import { LiveConfigSchema } from '@sluice/config';
import { EtherType, IpProto } from '@sluice/wire';
import Value from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arpRequest, FixtureDirector, neighborSolicit } from './fixture-director.ts';
import { Lab } from './lab.ts';
import { checkLabPrerequisites } from './preflight.ts';
import { exec } from './sh.ts';

const NAME = 'sllab';
const OTHER = 'sllab2';
const VIP4 = '198.51.100.10';
const VIP6 = '2001:db8:5::10';
const DIRECTOR_MAC = '02:00:5e:10:00:01';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** curl from a node; returns the exit code, body and the x-real header. */
async function curl(
  run: (argv: string[]) => Promise<{ code: number; stdout: string; stderr: string }>,
  url: string,
  extra: string[] = [],
): Promise<{ code: number; body: string; real: string | null; received: string | null; stderr: string }> {
  const r = await run(['curl', '-sS', '-g', '--max-time', '5', '-D', '-', ...extra, url]);
  const [head, ...rest] = r.stdout.split('\r\n\r\n');
  const header = (n: string): string | null => new RegExp(`^${n}: (.*)$`, 'im').exec(head)?.[1] ?? null;
  return {
    code: r.code,
    body: rest.join('\r\n\r\n'),
    real: header('x-real'),
    received: header('x-received-bytes'),
    stderr: r.stderr,
  };
}

async function leftovers(name: string): Promise<string[]> {
  const ns = (await exec(['ip', 'netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(`${name}-`));
  const links = (JSON.parse((await exec(['ip', '-j', 'link', 'show'])).stdout) as { ifname: string }[])
    .map((l) => l.ifname)
    .filter((n) => n.startsWith(`${name}-`));
  return [...ns, ...links];
}

describe('Lab on real kernels', () => {
  let lab: Lab;
  let director: FixtureDirector;

  beforeAll(async () => {
    await checkLabPrerequisites();
    lab = await Lab.create({
      name: NAME,
      reals: 2,
      clients: 1,
      vni: 4242,
      vip4: VIP4,
      vip6: VIP6,
      directorMac: DIRECTOR_MAC,
    });
    await Promise.all([lab.startHttp(0), lab.startHttp(1)]);
    director = await FixtureDirector.start(lab);
  });

  afterAll(async () => {
    await director?.close();
    await lab?.destroy();
    await Lab.destroyByName(OTHER);
  });

  it('names and addresses derive from the lab name, vx0 MACs are read back', () => {
    expect(lab.reals.map((r) => r.ns)).toEqual([`${NAME}-rs1`, `${NAME}-rs2`]);
    expect(lab.clients.map((c) => c.ns)).toEqual([`${NAME}-c1`]);
    const n = lab.plan.subnet;
    expect(lab.directorUnderlay).toBe(`192.168.${n}.1`);
    expect(lab.reals[0].underlay).toBe(`192.168.${n}.11`);
    expect(lab.reals[1].overlay4).toBe(`10.${n}.0.12`);
    expect(lab.clients[0].overlay4).toBe(`10.${n}.0.101`);
    for (const node of lab.nodes) expect(node.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(new Set(lab.nodes.map((x) => x.mac)).size).toBe(3);
  });

  it('checksum offload is off on every vxlan and veth device (else the inner TCP checksum stays partial)', async () => {
    const txOff = (out: string): boolean => /^tx-checksumming: off/m.test(out);
    for (const node of lab.nodes) {
      for (const dev of ['vx0', 'eth0'])
        expect(txOff((await node.exec(['ethtool', '-k', dev])).stdout)).toBe(true);
      expect(txOff((await exec(['ethtool', '-k', node.ns])).stdout)).toBe(true);
    }
  });

  it('each real answers HTTP on its underlay address from the root namespace (the health-check path)', async () => {
    for (const r of lab.reals) {
      const res = await curl((argv) => exec(argv), `http://${r.underlay}/`);
      expect(res.code, res.stderr).toBe(0);
      expect(res.body).toBe(`${r.label}\n`);
      expect(res.real).toBe(r.label);
    }
  });

  it('directorConfig() is a valid live config describing the lab', () => {
    const cfg = lab.directorConfig();
    expect(Value.Check(LiveConfigSchema, cfg)).toBe(true);
    expect(cfg.overlay).toEqual({ vni: 4242, directorMac: DIRECTOR_MAC });
    expect(cfg.services.map((s) => [s.name, s.vip, s.port])).toEqual([
      ['web4', VIP4, 80],
      ['web6', VIP6, 80],
    ]);
    const [web4, web6] = cfg.services;
    expect(web4.reals.map((r) => [r.address, r.vtep, r.mac])).toEqual(
      lab.reals.map((r) => [r.overlay4, r.underlay, r.mac]),
    );
    expect(web6.reals.map((r) => r.address)).toEqual(lab.reals.map((r) => r.overlay6));
    expect(web4.reals[0].healthCheck).toEqual({
      type: 'http',
      path: '/',
      intervalSeconds: 0.5,
      timeoutSeconds: 0.4,
      rise: 1,
      fall: 2,
    });
  });

  it('reals answer ARP/ND for their own overlay addresses but never for the VIPs', async () => {
    const real = lab.reals[0];
    director.received.length = 0;
    director.record = true;
    const from = `10.${lab.plan.subnet}.0.1`;
    director.send(arpRequest(DIRECTOR_MAC, from, VIP4), real.underlay);
    director.send(neighborSolicit(DIRECTOR_MAC, VIP6), real.underlay);
    director.send(neighborSolicit(DIRECTOR_MAC, VIP6, real.mac), real.underlay);
    director.send(arpRequest(DIRECTOR_MAC, from, real.overlay4), real.underlay);
    director.send(neighborSolicit(DIRECTOR_MAC, real.overlay6!), real.underlay);
    await sleep(300);
    director.record = false;
    const fromReal = director.received.filter((f) => f.from === real.underlay);
    const arpReplies = fromReal.filter((f) => f.info.etherType === EtherType.arp && f.info.arpOp === 2);
    const adverts = fromReal.filter((f) => f.info.ipProto === IpProto.icmpv6 && f.info.icmpType === 136);
    // Exactly the two controls are answered, and to the director's MAC (its fdb entry).
    expect(arpReplies).toHaveLength(1);
    expect(arpReplies[0].frame.subarray(28, 32)).toEqual(Buffer.from(real.overlay4.split('.').map(Number)));
    expect(adverts).toHaveLength(1);
    for (const f of [...arpReplies, ...adverts]) {
      expect([...f.frame.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':')).toBe(
        DIRECTOR_MAC,
      );
    }
  });

  it('curl http://vip4/ from the client reaches the real the director picked; replies go direct', async () => {
    const client = lab.clients[0];
    const before = { ...director.counts };
    // The fixture picks reals[srcPort % 2].
    for (const [port, label] of [
      [41000, 'rs1'],
      [41001, 'rs2'],
    ] as const) {
      const res = await curl((argv) => client.exec(argv), `http://${VIP4}/`, ['--local-port', String(port)]);
      expect(res.code, res.stderr).toBe(0);
      expect(res.body).toBe(`${label}\n`);
      expect(res.real).toBe(label);
    }
    expect(director.counts.arpAnswered).toBeGreaterThan(before.arpAnswered);
    expect(director.counts.forwarded).toBeGreaterThan(before.forwarded);
    expect(director.counts.replies).toBe(0);
    const neigh = await client.exec(['ip', 'neigh', 'show', VIP4, 'dev', 'vx0']);
    expect(neigh.stdout).toContain(DIRECTOR_MAC);
  });

  it('curl http://[vip6]/ from the client works the same over IPv6 (ND answered by the fixture)', async () => {
    const client = lab.clients[0];
    const before = { ...director.counts };
    for (const [port, label] of [
      [41010, 'rs1'],
      [41011, 'rs2'],
    ] as const) {
      const res = await curl((argv) => client.exec(argv), `http://[${VIP6}]/`, [
        '--local-port',
        String(port),
      ]);
      expect(res.code, res.stderr).toBe(0);
      expect(res.body).toBe(`${label}\n`);
    }
    expect(director.counts.ndAnswered).toBeGreaterThan(before.ndAnswered);
    expect(director.counts.replies).toBe(0);
  });

  it('a 256 KiB upload crosses the fixture in full-MTU frames with intact checksums', async () => {
    const client = lab.clients[0];
    const size = 256 * 1024;
    director.received.length = 0;
    director.record = true;
    const res = await curl((argv) => client.exec(argv, { input: 'x'.repeat(size) }), `http://${VIP4}/`, [
      '--local-port',
      '41020',
      '--data-binary',
      '@-',
    ]);
    director.record = false;
    expect(res.code, res.stderr).toBe(0);
    expect(res.received).toBe(String(size));
    const largest = Math.max(...director.received.map((f) => f.frame.length));
    // vx0's MTU (1450) plus the inner Ethernet header: the MTU leaves room for VXLAN on a 1500 veth.
    expect(largest).toBe(lab.plan.overlayMtu + 14);
  });

  it('ping reaches the VIP through the fixture', async () => {
    const r = await lab.clients[0].exec(['ping', '-c', '1', '-W', '2', VIP4]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('stopHttp makes the real refuse connections; startHttp brings it back', async () => {
    const r = lab.reals[1];
    await lab.stopHttp(1);
    const down = await curl((argv) => exec(argv), `http://${r.underlay}/`);
    expect(down.code).toBe(7); // curl: failed to connect (ECONNREFUSED)
    await lab.startHttp(1);
    const up = await curl((argv) => exec(argv), `http://${r.underlay}/`);
    expect(up.body).toBe('rs2\n');
  });

  it('a second lab coexists, and create() removes a crashed run of the same name', async () => {
    await expect(Lab.create({ name: OTHER, subnet: lab.plan.subnet })).rejects.toMatchObject({
      code: 'SLUICE_ERR_LAB_SUBNET_IN_USE',
    });
    const first = await Lab.create({ name: OTHER, reals: 1, clients: 1, ipv6: false });
    // A "crash": the lab object is dropped with a detached server still running in its namespace.
    await first.startHttp(0, 80, { detached: true });
    const other = await Lab.create({ name: OTHER, reals: 1, clients: 1, ipv6: false });
    expect(other.plan.subnet).not.toBe(lab.plan.subnet);
    expect((await exec(['ip', 'netns', 'pids', `${OTHER}-rs1`])).stdout.trim()).toBe('');
    await other.startHttp(0);
    const fixture = await FixtureDirector.start(other);
    try {
      // Default VIP: inside the overlay subnet, no IPv6.
      expect(other.vip4).toBe(`10.${other.plan.subnet}.0.100`);
      const res = await curl((argv) => other.clients[0].exec(argv), `http://${other.vip4}/`);
      expect(res.code, res.stderr).toBe(0);
      expect(res.body).toBe('rs1\n');
      expect(other.directorConfig().services.map((s) => s.name)).toEqual(['web4']);
    } finally {
      await fixture.close();
      await other.destroy();
    }
    expect(await leftovers(OTHER)).toEqual([]);
    // The first lab is untouched.
    const again = await curl((argv) => lab.clients[0].exec(argv), `http://${VIP4}/`, [
      '--local-port',
      '41030',
    ]);
    expect(again.body).toBe('rs1\n');
  });

  it('destroy() removes every namespace, device and process', async () => {
    const pids = (await exec(['ip', 'netns', 'pids', `${NAME}-rs1`])).stdout.trim().split(/\s+/).map(Number);
    expect(pids.length).toBeGreaterThan(0);
    await director.close();
    await lab.destroy();
    expect(await leftovers(NAME)).toEqual([]);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});
