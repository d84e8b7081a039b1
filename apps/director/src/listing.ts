// An `ipvsadm -L -n --stats`-style listing of the running director: services, their real
// servers with weight, ActiveConn, InActConn, and the counters since start.
import { type ConfigSnapshot, type Dataplane, Per } from '@sluice/dataplane';

function pad(s: string | number, n: number): string {
  return String(s).padStart(n);
}

function endpoint(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

export function formatListing(snapshot: ConfigSnapshot, dp: Dataplane): string {
  const c = dp.counters;
  const l = c.layout;
  const lines: string[] = [];
  lines.push(
    `Sluice director (config v${dp.version}, table ${dp.connections.count()}/${dp.connections.capacity}, workers ${dp.threads})`,
  );
  lines.push(
    `Prot LocalAddress:Port Scheduler        Weight ActiveConn InActConn     Conns    InPkts   InBytes`,
  );
  lines.push('  -> RemoteAddress:Port');
  for (const svc of snapshot.services) {
    const s = l.services + svc.index * Per.words;
    lines.push(
      `${svc.protocol.toUpperCase().padEnd(4)} ${endpoint(svc.vip, svc.port).padEnd(22)} ${svc.scheduler.padEnd(6)}` +
        `${pad('', 18)}${pad('', 10)}${pad(c.sum(s + Per.connections), 10)}${pad(c.sum(s + Per.packets), 10)}${pad(c.sum(s + Per.bytes), 10)}`,
    );
    for (const r of svc.reals) {
      const b = l.reals + r.index * Per.words;
      lines.push(
        `  -> ${endpoint(r.address, r.port).padEnd(27)}${pad(r.weight, 7)}${pad(dp.reals.active[r.index], 11)}` +
          `${pad(dp.reals.inactive[r.index], 10)}${pad(c.sum(b + Per.connections), 10)}${pad(c.sum(b + Per.packets), 10)}${pad(c.sum(b + Per.bytes), 10)}`,
      );
    }
  }
  return lines.join('\n');
}
