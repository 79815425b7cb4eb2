/** What a figure was measured on: noted in every report, since numbers mean little without it. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface MachineInfo {
  cores: number;
  availableParallelism: number;
  cpuModel: string;
  cpuMHz: number;
  loadAvgAtStart: number[];
  memTotalGiB: number;
  memFreeGiB: number;
  platform: string;
  arch: string;
  osRelease: string;
  node: string;
  v8: string;
  git: { commit: string; dirty: boolean } | null;
}

export function machineInfo(root: string): MachineInfo {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    availableParallelism: os.availableParallelism?.() ?? cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpuMHz: cpus[0]?.speed ?? 0,
    loadAvgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    memTotalGiB: round(os.totalmem() / 2 ** 30, 1),
    memFreeGiB: round(os.freemem() / 2 ** 30, 1),
    platform: process.platform,
    arch: process.arch,
    osRelease: os.release(),
    node: process.version,
    v8: process.versions.v8,
    git: gitInfo(root),
  };
}

function gitInfo(root: string): MachineInfo['git'] {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return { commit, dirty };
  } catch {
    return null;
  }
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}
