// One director per VTEP. The serving workers bind the VTEP address:port with SO_REUSEPORT, so a
// second `sluice run` on the same VTEP would bind too and the kernel would hand it part of the
// flows (it happened: the second instance served traffic until it failed on the busy API port).
// Before anything is bound the daemon therefore takes a lock named after the VTEP, and then
// probes the port.
//
// - The lock is a Unix socket in Linux's abstract namespace, `\0sluice-vtep/<address>:<port>`:
//   binding it is atomic, the kernel releases it when the process dies however it dies (no stale
//   lock file to judge by pid), and, like the VTEP itself, it belongs to the network namespace,
//   so directors in two lab namespaces do not see each other's lock. The holder answers a
//   connection with its pid and config path, which the refusal names.
// - The probe binds the VTEP address:port once without SO_REUSEPORT and closes it: the kernel
//   refuses (EADDRINUSE) when anything holds an overlapping address, a director on 0.0.0.0:4789
//   while this one asks for 127.0.0.1:4789, or a process that is no director at all.
import dgram from 'node:dgram';
import net from 'node:net';

export class DaemonStartError extends Error {
  readonly code: 'SLUICE_ERR_DAEMON_VTEP_BUSY' | 'SLUICE_ERR_DAEMON_API_BUSY';
  constructor(code: DaemonStartError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

export interface LockHolder {
  pid: number;
  configPath: string | null;
}

export function vtepLockName(address: string, port: number): string {
  return `\0sluice-vtep/${address}:${port}`;
}

/** Who holds the lock, asked over the lock socket itself; null when it does not say in time. */
function askHolder(name: string): Promise<LockHolder | null> {
  return new Promise((resolve) => {
    const c = net.connect(name);
    let text = '';
    const done = (v: LockHolder | null) => {
      c.destroy();
      resolve(v);
    };
    c.setTimeout(1000, () => done(null));
    c.on('data', (d) => {
      text += d.toString('utf8');
    });
    c.on('error', () => done(null));
    c.on('end', () => {
      try {
        const v = JSON.parse(text) as Partial<LockHolder>;
        done(typeof v.pid === 'number' ? { pid: v.pid, configPath: v.configPath ?? null } : null);
      } catch {
        done(null);
      }
    });
  });
}

function describeHolder(h: LockHolder | null): string {
  if (h === null) return 'another director';
  return `another director (pid ${h.pid}${h.configPath === null ? '' : `, config ${h.configPath}`})`;
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/** Binds `address:port` once without SO_REUSEPORT; rejects with the errno when it cannot. */
function probeUdp(address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: address.includes(':') ? 'udp6' : 'udp4' });
    s.once('error', (err) => {
      s.close();
      reject(err);
    });
    s.bind({ address, port, exclusive: true }, () => s.close(() => resolve()));
  });
}

/** Listens on `address:port` once and closes: the control plane's port is free now. */
export function probeTcp(address: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: address, port, exclusive: true }, () => s.close(() => resolve()));
  });
}

export class VtepLock {
  private readonly server: net.Server;
  readonly name: string;

  private constructor(server: net.Server, name: string) {
    this.server = server;
    this.name = name;
  }

  /**
   * Takes the VTEP's lock and probes its port; throws DaemonStartError
   * (SLUICE_ERR_DAEMON_VTEP_BUSY) naming the holder when another director has it or something
   * else holds the port. Binds nothing else.
   */
  static async acquire(address: string, port: number, configPath: string | null): Promise<VtepLock> {
    const name = vtepLockName(address, port);
    const me = JSON.stringify({ pid: process.pid, configPath } satisfies LockHolder);
    const server = net.createServer((c) => c.end(me));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(name, () => resolve());
      });
    } catch (err) {
      if (errnoOf(err) !== 'EADDRINUSE') {
        throw new DaemonStartError(
          'SLUICE_ERR_DAEMON_VTEP_BUSY',
          `cannot take the lock for VTEP ${address}:${port}: ${errnoOf(err)}`,
        );
      }
      const holder = await askHolder(name);
      throw new DaemonStartError(
        'SLUICE_ERR_DAEMON_VTEP_BUSY',
        `${describeHolder(holder)} already serves VTEP ${address}:${port} in this network namespace; ` +
          'stop it first, or give this one another daemon.vxlan address or port',
      );
    }
    // The lock socket must not keep the process alive on its own, nor be inherited by children.
    server.unref();
    const lock = new VtepLock(server, name);
    try {
      await probeUdp(address, port);
    } catch (err) {
      await lock.release();
      throw new DaemonStartError(
        'SLUICE_ERR_DAEMON_VTEP_BUSY',
        `UDP ${address}:${port} is already in use (${errnoOf(err)}): another process, or a director on ` +
          'an overlapping address, holds it',
      );
    }
    return lock;
  }

  release(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
