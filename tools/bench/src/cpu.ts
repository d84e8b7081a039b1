// CPU time of this process's threads (or another's), from /proc: the figure least disturbed by a
// busy shared machine, since it counts what the measured threads did, not what the clock saw.
import { readdirSync, readFileSync } from 'node:fs';

/** CPU seconds (user + system) of a process's threads, all or those named `comm`; 0 off Linux. */
export function cpuSeconds(pid: number | 'self', comm?: string): number {
  let ticks = 0;
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      if (comm !== undefined && name !== comm) continue;
      const f = stat.slice(close + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    }
  } catch {
    return 0;
  }
  return ticks / 100; // USER_HZ
}
