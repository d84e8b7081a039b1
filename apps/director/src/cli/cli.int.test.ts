// The `sluice` CLI as an operator runs it: a child process (the pinned Node on src/main.ts, and the
// bin launcher under the machine's own Node and through npx) against a real Director on loopback
// (serving worker, VXLAN socket, control plane on a real HTTP port), finding it through a state
// directory laid out as `sluice run` lays it out (config.json with daemon.api, token mode 0600).
// Proves: restore → list -n byte for byte against the ipvsadm fixtures, save/restore fixed point,
// a bad line changes nothing and is named, stats and rates from real forwarded frames, -c and
// reset, drain, defense, sources, config get/put/edit (the 400 loop and the 412), the converter's
// output accepted by the director, and the exit codes.
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LiveConfig, validateConfigFile } from '@sluice/config';
import { addressBytes, freeUdpPort, TCP, TrafficFrames } from '@sluice/traffic';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildControlPlane } from '../api/server.ts';
import { Director } from '../director.ts';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const NODE = path.join(REPO, 'node_modules', '.bin', 'node');
const MAIN = path.join(REPO, 'apps', 'director', 'src', 'main.ts');
const LAUNCHER = path.join(REPO, 'apps', 'director', 'bin', 'sluice.mjs');
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const TOKEN = 'cli-int-test-token-6c1f';
const DIRECTOR_MAC = '02:5c:00:00:00:01';
const REAL_MAC = '02:00:00:00:01:01';
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

const fixture = (name: string) => readFile(path.join(FIXTURES, name), 'utf8');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of the test process without anything that would point the CLI elsewhere. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['INIT_CWD', 'SLUICE_API', 'SLUICE_TOKEN', 'SLUICE_STATE_DIR', 'EDITOR', 'VISUAL'])
    delete env[k];
  return { ...env, ...extra };
}

function run(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
) {
  return new Promise<Run>((resolve, reject) => {
    const child: ChildProcess = spawn(command, args, {
      cwd: opts.cwd ?? REPO,
      env: opts.env ?? cleanEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin?.end(opts.input ?? '');
  });
}

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0 }, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('sluice, the command, against a running director', () => {
  let dir = '';
  let state = '';
  let director: Director;
  let app: FastifyInstance;
  let api = '';
  let closedApi = '';
  let realSocket: dgram.Socket;
  let clientSocket: dgram.Socket;
  const realGot: Buffer[] = [];
  let listenPort = 0;

  /** `sluice ...` with the pinned Node on src/main.ts, the state directory in the environment. */
  const sluice = (
    args: string[],
    opts: { env?: Record<string, string>; input?: string; cwd?: string } = {},
  ) =>
    run(NODE, [MAIN, ...args], {
      cwd: opts.cwd,
      env: cleanEnv({ SLUICE_STATE_DIR: state, ...opts.env }),
      input: opts.input,
    });
  const config = async () => (await (await fetch(`${api}/v1/config`)).json()) as LiveConfig;
  const etag = async () => (await fetch(`${api}/v1/config`)).headers.get('etag');

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sluice-cli-'));
    state = path.join(dir, '.sluice');
    const remotePort = await freeUdpPort('127.0.0.1');
    listenPort = await freeUdpPort('127.0.0.1');
    const apiPort = await freeTcpPort();
    closedApi = `http://127.0.0.1:${await freeTcpPort()}`;
    realSocket = dgram.createSocket('udp4');
    realSocket.on('message', (m) => realGot.push(m));
    await new Promise<void>((r) => realSocket.bind(remotePort, '127.0.0.2', () => r()));
    clientSocket = dgram.createSocket('udp4');
    await new Promise<void>((r) => clientSocket.bind(0, '127.0.0.3', () => r()));

    const file = validateConfigFile({
      daemon: {
        vxlan: { address: '127.0.0.1', port: listenPort },
        api: { address: '127.0.0.1', port: apiPort },
        workers: 1,
        connectionCapacity: 4096,
      },
      overlay: { vni: 42, directorMac: DIRECTOR_MAC },
      services: [
        {
          name: 'web',
          vip: '10.42.0.100',
          port: 80,
          scheduler: 'rr',
          reals: [{ address: '10.42.0.11', port: 80, vtep: '127.0.0.2', mac: REAL_MAC }],
        },
      ],
    });
    // The state directory as `sluice run` keeps it: its config (REST changes are saved there) and
    // its token, readable by the owner only.
    await (await import('node:fs/promises')).mkdir(state, { mode: 0o700 });
    const configPath = path.join(state, 'config.json');
    await writeFile(configPath, JSON.stringify(file, null, 2));
    await writeFile(path.join(state, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    director = await Director.start({ file, configPath, log: quiet, remotePort });
    app = buildControlPlane(director, { token: TOKEN });
    await app.listen({ host: '127.0.0.1', port: apiPort });
    api = `http://127.0.0.1:${apiPort}`;
  });

  afterAll(async () => {
    await app?.close();
    await director?.stop();
    realSocket?.close();
    clientSocket?.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('the launcher', () => {
    it("runs under the machine's own node (too old for TypeScript) through the pinned one", async () => {
      const r = await run('node', [LAUNCHER, 'list', '--help']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^usage: sluice list/);
    });

    it('is what `npx sluice` runs after npm ci', async () => {
      const r = await run('npx', ['--no-install', 'sluice', '--help'], { env: cleanEnv() });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/usage: sluice COMMAND/);
      expect(r.stdout).toMatch(/import-keepalived/);
    });

    it('passes the exit code through', async () => {
      const r = await run('node', [LAUNCHER, 'list', '--no-such-option']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/Unknown option '--no-such-option'/);
    });
  });

  describe('finding the director', () => {
    it('reads the address and the token from .sluice in the directory it is run in, as sluice run keeps them', async () => {
      const r = await run(NODE, [MAIN, 'drain', 'web', '10.42.0.11:80'], { cwd: dir, env: cleanEnv() });
      expect(r.stderr).toBe('web 10.42.0.11:80: draining\n');
      expect(r.code).toBe(0);
      expect((await config()).services[0].reals[0].state).toBe('draining');
    });

    it('takes .sluice from the directory npm was run in (INIT_CWD), not the workspace npm runs it in', async () => {
      const r = await run(NODE, [MAIN, 'undrain', 'web', '10.42.0.11'], {
        cwd: path.join(REPO, 'apps', 'director'),
        env: cleanEnv({ INIT_CWD: dir }),
      });
      expect(r.code).toBe(0);
      expect((await config()).services[0].reals[0].state).toBe('active');
    });

    it('--api and --token override the state; without a token a change is refused with exit 5', async () => {
      const other = await mkdtemp(path.join(tmpdir(), 'sluice-cli-empty-'));
      try {
        const read = await run(NODE, [MAIN, 'save', '--api', api], { cwd: other, env: cleanEnv() });
        expect(read.code).toBe(0);
        const change = await run(NODE, [MAIN, 'drain', 'web', '10.42.0.11', '--api', api], {
          cwd: other,
          env: cleanEnv(),
        });
        expect(change.code).toBe(5);
        expect(change.stderr).toMatch(/needs its API token: none in --token or SLUICE_TOKEN/);
        const wrong = await run(NODE, [MAIN, 'drain', 'web', '10.42.0.11', '--api', api, '--token', 'nope'], {
          cwd: other,
          env: cleanEnv(),
        });
        expect(wrong.code).toBe(5);
        expect(wrong.stderr).toMatch(/403 the bearer token does not match/);
        const env = await run(NODE, [MAIN, 'undrain', 'web', '10.42.0.11'], {
          cwd: other,
          env: cleanEnv({ SLUICE_API: api, SLUICE_TOKEN: TOKEN }),
        });
        expect(env.code).toBe(0);
      } finally {
        await rm(other, { recursive: true, force: true });
      }
    });

    it('exit 3 when nothing answers, naming the address and where it came from', async () => {
      const r = await sluice(['list', '--api', closedApi]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(
        new RegExp(`cannot reach the director at ${closedApi} \\(from --api\\): ECONNREFUSED`),
      );
    });
  });

  describe('ipvsadm rules in and out', () => {
    it('restore, then list -n prints what ipvsadm -L -n prints for those services, byte for byte', async () => {
      const restored = await sluice([
        'restore',
        '--clear',
        '--vtep-for',
        '2001:db8::a0a0=192.0.2.10',
        path.join(FIXTURES, 'mixed.rules'),
      ]);
      expect(restored.stderr).toMatch(/^sluice restore: 12 rules applied as one change \(ETag "/);
      expect(restored.code).toBe(0);
      const list = await sluice(['list', '-n']);
      expect(list.code).toBe(0);
      expect(list.stdout).toBe(await fixture('mixed.ipvsadm-Ln.txt'));
      expect((await sluice(['list', '-n', '--thresholds'])).stdout).toBe(
        await fixture('mixed.ipvsadm-Ln-thresholds.txt'),
      );
    });

    it('save, then restore of the save, is a fixed point: nothing to change, same save', async () => {
      const before = await etag();
      const saved = await sluice(['save', '-n']);
      expect(saved.code).toBe(0);
      const again = await sluice(['restore', '--clear'], { input: saved.stdout });
      expect(again.code).toBe(0);
      expect(again.stderr).toBe('sluice restore: 12 rules, nothing to change\n');
      expect(await etag()).toBe(before);
      expect((await sluice(['save'])).stdout).toBe(saved.stdout);
      // And from the save into a director that has none of it: the same save back.
      await sluice(['restore', '--clear'], { input: '-A -t 10.9.9.9:80 -s rr\n' });
      const third = await sluice(['restore', '--clear', '--vtep-for', '2001:db8::a0a0=192.0.2.10'], {
        input: saved.stdout,
      });
      expect(third.code).toBe(0);
      expect((await sluice(['save'])).stdout).toBe(saved.stdout);
    });

    it('a restore with one bad line changes nothing and names the line (exit 1)', async () => {
      const before = await etag();
      const lines = (await fixture('dr-tutorial.rules')).split('\n');
      lines.splice(3, 0, '-a -t 192.168.65.123:80 -r 192.168.65.158:80 -m -w 1');
      const bad = await sluice(['restore', '--clear'], { input: lines.join('\n') });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(
        /^sluice restore: line 4: -a -t 192\.168\.65\.123:80 -r 192\.168\.65\.158:80 -m -w 1: /,
      );
      expect(bad.stderr).toMatch(/Sluice forwards by direct routing over VXLAN/);
      expect(await etag()).toBe(before);
    });

    it('a line the director refuses is traced back to that line, and nothing changes', async () => {
      const before = await etag();
      const r = await sluice(['restore'], {
        input: '-A -t 10.50.0.1:80 -s wlc\n\n-a -t 10.50.0.1:80 -r 10.50.1.1 -x 10 -y 20\n',
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /^sluice restore: line 3: -a -t 10\.50\.0\.1:80 -r 10\.50\.1\.1 -x 10 -y 20: the director refused it \(\/services\/\d+\/reals\/0\/lowerThreshold: .*must be at most upperThreshold/,
      );
      expect(await etag()).toBe(before);
    });

    it('the tutorial director: list -n and --stats as ipvsadm prints them', async () => {
      expect((await sluice(['restore', '--clear', path.join(FIXTURES, 'dr-tutorial.rules')])).code).toBe(0);
      expect((await sluice(['list', '-n'])).stdout).toBe(await fixture('dr-tutorial.ipvsadm-Ln.txt'));
      expect((await sluice(['list', '-n', '--stats'])).stdout).toBe(
        await fixture('dr-tutorial.ipvsadm-Ln-stats.txt'),
      );
      const one = await sluice(['list', '-n', '-t', '192.168.65.123:80']);
      expect(one.stdout).toBe((await fixture('dr-tutorial.ipvsadm-Ln.txt')).split('\n').slice(1).join('\n'));
      expect((await sluice(['list', '-t', '192.168.65.124:80'])).code).toBe(1);
    });
  });

  describe('traffic, connections and the day-to-day commands', () => {
    const vip = addressBytes('10.42.0.100');
    const src = addressBytes('10.42.0.101');
    const tf = new TrafficFrames({ vni: 42, clientMac: '02:00:00:00:aa:01', directorMac: DIRECTOR_MAC });
    const sent: Uint8Array[] = [];
    const send = (f: Uint8Array) => {
      sent.push(f);
      clientSocket.send(f, listenPort, '127.0.0.1');
    };

    it('counts forwarded frames per service and real server: --stats --exact, --rate', async () => {
      const rules = '-A -t 10.42.0.100:80 -s rr\n-a -t 10.42.0.100:80 -r 10.42.0.11:80 -g -w 1\n';
      const r = await sluice(
        ['restore', '--clear', '--vtep-for', '10.42.0.11=127.0.0.2', '--mac-for', `10.42.0.11=${REAL_MAC}`],
        { input: rules },
      );
      expect(r.code).toBe(0);
      await until(async () => (await (await fetch(`${api}/readyz`)).status) === 200);
      realGot.length = 0;
      send(tf.tcp({ src, dst: vip, srcPort: 40000, dstPort: 80, flags: TCP.syn, seq: 1000 }));
      send(tf.tcp({ src, dst: vip, srcPort: 40000, dstPort: 80, flags: TCP.ack, seq: 1001, ack: 1 }));
      send(
        tf.tcp({
          src,
          dst: vip,
          srcPort: 40000,
          dstPort: 80,
          flags: TCP.ack | TCP.psh,
          seq: 1001,
          payloadLen: 100,
        }),
      );
      await until(() => realGot.length === 3);
      const inBytes = sent.reduce((n, f) => n + f.length - 8, 0);
      const stats = await sluice(['list', '-n', '--stats', '--exact']);
      const [svc, real] = stats.stdout.split('\n').slice(3, 5);
      expect(svc).toBe(
        `${'TCP  10.42.0.100:80'.padEnd(33)}${[1, 3, 0, inBytes, 0].map((n) => String(n).padStart(9)).join('')}`,
      );
      expect(real).toBe(
        `${'  -> 10.42.0.11:80'.padEnd(33)}${[1, 3, 0, inBytes, 0].map((n) => String(n).padStart(9)).join('')}`,
      );
      // "  -> %-28s %-7s %-6d %-10u %-10u": one ActiveConn.
      expect((await sluice(['list', '-n'])).stdout.split('\n')[4]).toBe(
        `  -> ${'10.42.0.11:80'.padEnd(28)} Route   1      1          0         `,
      );
      // The estimator steps every 2 s: InBPS shows once it has, Out* never.
      await until(async () => {
        const rate = await sluice(['list', '-n', '--rate', '--json']);
        const s = JSON.parse(rate.stdout).services[0];
        return s.rates.inBps > 0 && s.rates.outBps === 0 && s.rates.outPps === 0;
      });
    });

    it('list -c shows the connection with its priority and reasons; reset removes it', async () => {
      const c = await sluice(['list', '-c', '-n']);
      expect(c.code).toBe(0);
      const lines = c.stdout.trimEnd().split('\n');
      expect(lines[0]).toBe('IPVS connection entries');
      expect(lines[1]).toMatch(
        /^pro expire state {7}source {13}virtual {12}destination {8}prio id {16}reasons$/,
      );
      expect(lines).toHaveLength(3);
      const row = lines[2];
      expect(row.slice(0, 11)).toMatch(/^TCP \d\d:\d\d {2}$/);
      // "%-11s %-18s %-18s " then the destination padded to 18, priority, id, reasons.
      expect(row.slice(11, 80)).toBe(
        `ESTABLISHED ${'10.42.0.101:40000'.padEnd(18)} ${'10.42.0.100:80'.padEnd(18)} ${'10.42.0.11:80'.padEnd(18)} `,
      );
      expect(row.slice(80)).toMatch(/^\d+ +\S+ +\S+$/);
      const id = row.split(/ +/)[7];
      const json = JSON.parse((await sluice(['list', '-c', '--json'])).stdout);
      expect(json[0].id).toBe(id);
      expect(json[0].priorityReasons.length).toBeGreaterThan(0);
      expect((await sluice(['reset', id])).code).toBe(0);
      expect(JSON.parse((await sluice(['list', '-c', '--json'])).stdout)).toEqual([]);
      expect((await sluice(['reset', id])).code).toBe(1);
      // -c with --stats is ipvsadm's "options conflicts".
      expect((await sluice(['list', '-c', '--stats'])).code).toBe(2);
    });

    it('sources lists the client that connected', async () => {
      const r = await sluice(['sources', '--json']);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)[0]).toMatchObject({ source: '10.42.0.101/32', connectionsTotal: 1 });
      expect((await sluice(['sources'])).stdout).toMatch(
        /^SOURCE +CONNS +HANDSHAKES +TOTAL +AVG-PRIO +IDLE-S\n10\.42\.0\.101\/32 /,
      );
    });

    it('drain and undrain by VIP:PORT; an unknown real server is exit 1', async () => {
      expect((await sluice(['drain', '10.42.0.100:80', '10.42.0.11'])).code).toBe(0);
      expect((await config()).services[0].reals[0].state).toBe('draining');
      expect((await sluice(['undrain', '10.42.0.100:80', '10.42.0.11:80'])).code).toBe(0);
      expect((await config()).services[0].reals[0].state).toBe('active');
      const missing = await sluice(['drain', '10.42.0.100:80', '10.42.0.99']);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/404 .*no real server 10\.42\.0\.99:80/);
    });

    it('defense get, set and rules', async () => {
      expect(JSON.parse((await sluice(['defense', 'get'])).stdout).strategy).toBe('priority');
      const set = await sluice([
        'defense',
        'set',
        'lvs.dropEntry=3',
        'highWatermark=0.97',
        'weights.silent=0',
      ]);
      expect(set.code).toBe(0);
      expect(JSON.parse(set.stdout)).toMatchObject({
        highWatermark: 0.97,
        lvs: { dropEntry: 3 },
        weights: { silent: 0 },
      });
      expect((await sluice(['defense', 'set', 'highWatermark=7'])).code).toBe(1);
      expect((await sluice(['defense', 'rule', 'add', '10.9.0.0/16', '0'])).code).toBe(0);
      expect((await sluice(['defense', 'rules'])).stdout).toBe(
        'CIDR         PRIORITY  POOL\n10.9.0.0/16  0         -\n',
      );
      expect((await sluice(['defense', 'rule', 'rm', '10.9.0.0/16'])).code).toBe(0);
      expect(JSON.parse((await sluice(['defense', 'rules', '--json'])).stdout)).toEqual([]);
    });
  });

  describe('config get, put, edit', () => {
    it('get prints the config and its ETag; put with a stale If-Match is exit 4 and changes nothing', async () => {
      const got = await sluice(['config', 'get']);
      expect(JSON.parse(got.stdout)).toEqual(await config());
      const tag = (await sluice(['config', 'get', '--etag'])).stdout.trim();
      expect(tag).toBe(await etag());
      const next = JSON.parse(got.stdout) as LiveConfig;
      next.services[0].reals[0].weight = 5;
      const put = await sluice(['config', 'put', '-', '--if-match', tag], { input: JSON.stringify(next) });
      expect(put.code).toBe(0);
      const stale = await sluice(['config', 'put', '-', '--if-match', tag], { input: JSON.stringify(next) });
      expect(stale.code).toBe(4);
      expect(stale.stderr).toMatch(/412 .*nothing was applied/);
      expect((await config()).services[0].reals[0].weight).toBe(5);
    });

    it("edit re-opens the editor with the director's objection on top until the config is valid", async () => {
      const marker = path.join(dir, 'edited-once');
      const editor = path.join(dir, 'editor-fix.sh');
      await writeFile(
        editor,
        `#!/bin/sh
if [ ! -e '${marker}' ]; then
  touch '${marker}'
  sed -i 's/"weight": 5/"weight": 70000/' "$1"
else
  grep -q '^// Not applied, the director refused it: /services/0/reals/0/weight' "$1" || exit 9
  sed -i 's/"weight": 70000/"weight": 7/' "$1"
fi
`,
      );
      await chmod(editor, 0o755);
      const r = await sluice(['config', 'edit'], { env: { EDITOR: editor } });
      expect(r.stderr).toMatch(/the director refused it: \/services\/0\/reals\/0\/weight/);
      expect(r.stderr).toMatch(/config applied \(ETag/);
      expect(r.code).toBe(0);
      expect((await config()).services[0].reals[0].weight).toBe(7);
    });

    it('edit stops with exit 4 when someone else changes the config meanwhile, and keeps the edit', async () => {
      const editor = path.join(dir, 'editor-race.sh');
      await writeFile(
        editor,
        `#!/bin/sh
'${NODE}' '${MAIN}' drain 10.42.0.100:80 10.42.0.11 >/dev/null 2>&1 || exit 8
sed -i 's/"weight": 7/"weight": 9/' "$1"
`,
      );
      await chmod(editor, 0o755);
      const r = await sluice(['config', 'edit'], { env: { EDITOR: editor } });
      expect(r.code).toBe(4);
      const kept = /your edit is kept in (\S+)$/m.exec(r.stderr)?.[1];
      expect(kept).toBeDefined();
      expect(await readFile(kept as string, 'utf8')).toMatch(/"weight": 9/);
      await rm(path.dirname(kept as string), { recursive: true, force: true });
      const now = (await config()).services[0].reals[0];
      expect(now).toMatchObject({ weight: 7, state: 'draining' });
    });

    it('edit saved unchanged, or emptied, changes nothing', async () => {
      const before = await etag();
      expect((await sluice(['config', 'edit'], { env: { EDITOR: 'true' } })).stderr).toBe(
        'sluice config edit: no change\n',
      );
      const r = await sluice(['config', 'edit'], { env: { EDITOR: `sh -c ': > "$0"'` }, cwd: dir });
      expect(r.stderr).toBe('sluice config edit: abandoned, nothing changed\n');
      expect(r.code).toBe(0);
      expect(await etag()).toBe(before);
    });
  });

  describe('keepalived', () => {
    it("import-keepalived's services are accepted by the director as they are", async () => {
      const converted = await sluice(['import-keepalived', path.join(FIXTURES, 'keepalived-dr.conf')]);
      expect(converted.code).toBe(0);
      expect(converted.stderr).toMatch(/delay_before_retry: Sluice spaces retries by delay_loop/);
      const next = await config();
      next.services = JSON.parse(converted.stdout).services;
      const put = await sluice(['config', 'put', '-'], { input: JSON.stringify(next) });
      expect(put.code).toBe(0);
      expect((await sluice(['save'])).stdout).toBe(
        [
          '-A -t 192.0.2.100:80 -s wlc -p 300 -M 255.255.255.0',
          '-a -t 192.0.2.100:80 -r 198.51.100.11:80 -g -w 3 -x 2000 -y 1500',
          '-a -t 192.0.2.100:80 -r 198.51.100.12:80 -g -w 1',
          '-A -u 192.0.2.100:53 -s sh -b sh-fallback,sh-port',
          '-a -u 192.0.2.100:53 -r 198.51.100.21:53 -g -w 1',
          '-a -u 192.0.2.100:53 -r 198.51.100.22:53 -g -w 1',
          '',
        ].join('\n'),
      );
    });

    it("keepalived's NAT examples are refused without --as-dr, naming the line", async () => {
      const r = await sluice(['import-keepalived', path.join(FIXTURES, 'keepalived-sample.conf')]);
      expect(r.code).toBe(1);
      const line =
        (await fixture('keepalived-sample.conf')).split('\n').findIndex((l) => l.includes('lb_kind NAT')) + 1;
      expect(r.stderr).toMatch(
        new RegExp(`^sluice import-keepalived: line ${line}: lb_kind NAT: NAT is not supported`),
      );
    });
  });

  describe('usage', () => {
    it('--help is exit 0 on standard output; a usage error is exit 2 on standard error (main.test.ts has each)', async () => {
      const help = await sluice(['restore', '--help']);
      expect([help.code, help.stderr]).toEqual([0, '']);
      expect(help.stdout).toMatch(/^usage: sluice restore/);
      const bad = await sluice(['drain', 'web']);
      expect([bad.code, bad.stdout]).toEqual([2, '']);
      expect(bad.stderr).toMatch(/^sluice drain: wrong number of arguments/);
    });
  });
});
