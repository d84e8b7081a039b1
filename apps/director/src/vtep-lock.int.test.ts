// One director per VTEP, with real processes: a second `sluice run` on the same VTEP address and
// port exits 1 with a message naming the first (its pid and config) and never binds the VTEP
// port (the UDP sockets on it, read from /proc/net/udp all the while it runs, stay the first
// one's); one on an overlapping address (0.0.0.0 beside 127.0.0.1) is refused by the port probe;
// after the first dies by SIGKILL the lock is gone with it and the second starts. Also where
// `sluice run` without --config keeps its state: <INIT_CWD>/.sluice, printed as absolute paths.
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { validateConfigFile } from '@sluice/config';
import { freeUdpPort } from '@sluice/traffic';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, type DaemonChild, REPO, spawnDaemon, udpSocketsOnPort } from './daemon-process.ts';

let dir = '';
const children: DaemonChild[] = [];

async function configFile(name: string, vtepAddress: string, vtepPort: number): Promise<string> {
  const file = validateConfigFile({
    daemon: {
      vxlan: { address: vtepAddress, port: vtepPort },
      api: { address: '127.0.0.1', port: 0 },
      workers: 2,
      connectionCapacity: 4096,
    },
    overlay: { vni: 42, directorMac: '02:5c:00:00:00:01' },
    services: [],
  });
  const p = path.join(dir, name, 'config.json');
  await mkdir(path.dirname(p), { recursive: true });
  await writeFile(p, JSON.stringify(file));
  return p;
}

function start(configPath: string): DaemonChild {
  const d = spawnDaemon(['run', '--config', configPath]);
  children.push(d);
  return d;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sluice-lock-'));
});
afterEach(async () => {
  for (const d of children.splice(0)) {
    if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL');
    await d.exited;
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('one director per VTEP', () => {
  it('refuses a second director on the same address:port before it binds anything, exit 1', async () => {
    const port = await freeUdpPort('127.0.0.1');
    const first = start(await configFile('a', '127.0.0.1', port));
    await first.ready;
    const boundByFirst = udpSocketsOnPort(port);
    expect(boundByFirst).toBe(2); // one SO_REUSEPORT socket per serving worker

    const second = start(await configFile('b', '127.0.0.1', port));
    let most = 0;
    let done = false;
    void second.exited.then(() => {
      done = true;
    });
    while (!done) {
      most = Math.max(most, udpSocketsOnPort(port));
      await new Promise((r) => setImmediate(r));
    }
    const exit = await second.exited;
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain(
      `another director (pid ${first.child.pid}, config ${path.join(dir, 'a', 'config.json')}) already serves VTEP 127.0.0.1:${port}`,
    );
    expect(exit.stdout).not.toContain('Sluice director running');
    expect(exit.stderr).not.toContain('serving VXLAN');
    expect(most).toBe(boundByFirst);
    expect(udpSocketsOnPort(port)).toBe(boundByFirst);

    // An overlapping address is another lock name: the port probe refuses it.
    const wildcard = start(await configFile('c', '0.0.0.0', port));
    const w = await wildcard.exited;
    expect(w.code).toBe(1);
    expect(w.stderr).toContain(`UDP 0.0.0.0:${port} is already in use (EADDRINUSE)`);

    // The kernel drops the lock with the process, however it dies: no stale lock to clean up.
    first.child.kill('SIGKILL');
    await first.exited;
    const third = start(path.join(dir, 'b', 'config.json'));
    await third.ready;
    expect(udpSocketsOnPort(port)).toBe(2);
    third.child.kill('SIGTERM');
    expect((await third.exited).code).toBe(0);
  });

  it('without --config keeps config and token in .sluice of the directory npm ran in, printed absolute', async () => {
    const project = path.join(dir, 'project');
    const state = path.join(project, '.sluice');
    await mkdir(state, { recursive: true });
    const port = await freeUdpPort('127.0.0.1');
    const seeded = validateConfigFile({
      daemon: { vxlan: { address: '127.0.0.1', port }, api: { address: '127.0.0.1', port: 0 }, workers: 1 },
      overlay: { vni: 42, directorMac: '02:5c:00:00:00:01' },
      services: [],
    });
    await writeFile(path.join(state, 'config.json'), JSON.stringify(seeded));
    // As `npm start` at the root runs it: the workspace as working directory, INIT_CWD the root.
    const d = spawnDaemon(['run'], {
      cwd: path.join(REPO, 'apps', 'director'),
      env: cleanEnv({ INIT_CWD: project }),
    });
    children.push(d);
    await d.ready;
    expect(d.stdout).toContain(`config ${path.join(state, 'config.json')} `);
    expect(d.stdout).toContain(`token  ${path.join(state, 'token')}\n`);
    expect(d.stdout).toContain(`stored in ${path.join(state, 'token')}, mode 0600`);
    expect((await stat(path.join(state, 'token'))).mode & 0o777).toBe(0o600);
    await expect(stat(path.join(REPO, 'apps', 'director', '.sluice'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    d.child.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
  });
});
