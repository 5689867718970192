/**
 * Which processes of this host a rule's target names right now. matchTarget is pure (a snapshot of
 * the process table in, the matched processes out); scanProcesses takes the snapshot from /proc.
 *
 * CRIU dumps a whole process tree, so a target that names a parent and its children (a cgroup, a
 * command line the workers share) matches only the tree's root: the children go with it.
 */
import fs from 'node:fs';
import { ownProcessTree, readBootId, readProcStat } from '../criu/process';
import { readPidFile } from '../activities/pid-file';
import type { TriggerTarget } from './rules';

/** One process as a rule sees it. pid + startTime (+ bootId) is its identity: a reused pid is another process. */
export interface ProcessSnapshot {
  pid: number;
  ppid: number;
  startTime: number;
  bootId: string;
  comm: string;
  /** Arguments joined by single spaces (empty for a kernel thread). */
  cmdline: string;
  /** Unified (v2) cgroup path, or the name=systemd one on a v1-only host; null when unknown. */
  cgroup: string | null;
}

/** A target's matches. `problem` says why a target matched nothing when it could not even be looked at (an unreadable pid file). */
export interface TargetMatch {
  processes: ProcessSnapshot[];
  problem: string | null;
}

function inCgroup(cgroup: string | null, target: string): boolean {
  if (cgroup === null) return false;
  if (target === '/') return true;
  return cgroup === target || cgroup.startsWith(target + '/');
}

/**
 * The processes `target` names in `table`. `pidFromFile` is what the target's pid file holds (the
 * caller reads it; null when unreadable).
 */
export function matchTarget(target: TriggerTarget, table: readonly ProcessSnapshot[], pidFromFile: number | null = null): ProcessSnapshot[] {
  let hits: ProcessSnapshot[];
  switch (target.kind) {
    case 'pid-file':
      hits = pidFromFile === null ? [] : table.filter((p) => p.pid === pidFromFile);
      break;
    case 'cmdline':
      hits = table.filter((p) => p.cmdline !== '' && target.regex.test(p.cmdline));
      break;
    case 'cgroup':
      hits = table.filter((p) => inCgroup(p.cgroup, target.cgroup));
      break;
  }
  const matched = new Set(hits.map((p) => p.pid));
  return hits.filter((p) => !matched.has(p.ppid)).sort((a, b) => a.pid - b.pid);
}

function readCgroup(pid: number): string | null {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const line = lines.find((l) => l.startsWith('0::')) ?? lines.find((l) => /^\d+:name=systemd:/.test(l));
  return line ? line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1) : null;
}

const PF_KTHREAD = 0x00200000;

/**
 * This host's processes, without kernel threads, zombies and ferry's own process tree (the
 * worker never checkpoints itself). A process that exits during the scan is left out.
 */
export function scanProcesses(): ProcessSnapshot[] {
  const own = ownProcessTree();
  const bootId = readBootId();
  const out: ProcessSnapshot[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (own.has(pid) || pid === 1) continue;
    try {
      const stat = readProcStat(pid);
      if (!stat || stat.state === 'Z' || stat.state === 'X' || (stat.flags & PF_KTHREAD) !== 0) continue;
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0+$/, '').split('\0').join(' ');
      out.push({ pid, ppid: stat.ppid, startTime: stat.startTime, bootId, comm: stat.comm, cmdline, cgroup: readCgroup(pid) });
    } catch {
      // Gone between readdir and read, or not ours to read: not a process a rule can act on.
    }
  }
  return out;
}

/** What a rule's target names on this host right now (reads its pid file, scans /proc). */
export async function resolveTarget(target: TriggerTarget, host: string, table: readonly ProcessSnapshot[] = scanProcesses()): Promise<TargetMatch> {
  if (target.kind !== 'pid-file') return { processes: matchTarget(target, table), problem: null };
  try {
    const pid = await readPidFile(target.pidFile, host);
    const processes = matchTarget(target, table, pid);
    return { processes, problem: processes.length === 0 ? `pid ${pid} from ${target.pidFile} is not running (or is ferry's own)` : null };
  } catch (err) {
    return { processes: [], problem: (err as Error).message };
  }
}
