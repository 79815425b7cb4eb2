/** CPU time from /proc (Linux): of another process, and of this one with its finished children. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** Fields of /proc/<pid>/stat after the command name: [0] is field 3 (state). */
function statFields(pid: number | 'self'): number[] {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return f.slice(f.lastIndexOf(')') + 2).split(' ').map(Number);
}

/** CPU ms (user + system) used so far by process `pid`. */
export function procCpuMs(pid: number): number {
  const f = statFields(pid);
  return ((f[11] + f[12]) * 1000) / TICK; // utime + stime
}

/**
 * CPU ms (user + system) of this process, every thread, plus its children that have exited and
 * been reaped (cutime + cstime: an ffmpeg that has ended). Resolution: one clock tick (10 ms).
 */
export function cpuWithChildrenMs(): number {
  const f = statFields('self');
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000 + ((f[13] + f[14]) * 1000) / TICK;
}
