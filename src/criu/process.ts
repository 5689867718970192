/**
 * Who a pid is, and whether ferry may touch it. Read from /proc before every step.
 *
 * A pid alone can be recycled; pid + start time (field 22 of /proc/<pid>/stat) + boot id cannot.
 * ferry refuses pid 1, kernel threads and its own process tree (freezing an ancestor or a child
 * of ferry would freeze ferry itself, or the shell waiting for it).
 */
import fs from 'node:fs';
import { NoSuchProcessError, ProcessChangedError, RefusedTargetError } from '../core';
import type { ProcessIdentity } from './types';

/** PF_KTHREAD in the flags field of /proc/<pid>/stat (include/linux/sched.h). */
const PF_KTHREAD = 0x00200000;

export interface ProcStat {
  pid: number;
  comm: string;
  /** R, S, D, T, t, Z, X, I, ... */
  state: string;
  ppid: number;
  flags: number;
  /** Clock ticks after boot. */
  startTime: number;
}

/** Parses one /proc/<pid>/stat line; the command name may itself hold spaces and parentheses. */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`unexpected /proc stat format: ${text.slice(0, 80)}`);
  const pid = Number(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  // Fields after the command name, numbered from 3 (state) as in proc(5).
  const rest = text.slice(close + 2).trim().split(/\s+/);
  const field = (n: number): string => rest[n - 3] ?? '';
  const stat = {
    pid,
    comm,
    state: field(3),
    ppid: Number(field(4)),
    flags: Number(field(9)),
    startTime: Number(field(22)),
  };
  if (!Number.isInteger(stat.pid) || !stat.state || !Number.isFinite(stat.startTime) || !Number.isFinite(stat.ppid)) {
    throw new Error(`unexpected /proc stat format: ${text.slice(0, 80)}`);
  }
  return stat;
}

/** /proc/<pid>/stat, or null when there is no such process. */
export function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') return null;
    throw err;
  }
  return parseProcStat(text);
}

let bootId: string | undefined;
export function readBootId(): string {
  if (bootId === undefined) bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return bootId;
}

/** The identity of the process now holding `pid`. Throws NoSuchProcessError if there is none. */
export async function readProcessIdentity(pid: number): Promise<ProcessIdentity> {
  return readIdentitySync(pid);
}

export function readIdentitySync(pid: number): ProcessIdentity {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new NoSuchProcessError(pid);
  const stat = readProcStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') throw new NoSuchProcessError(pid, stat ? { during: 'it has exited (zombie)' } : undefined);
  return { pid, startTime: stat.startTime, bootId: readBootId(), comm: stat.comm };
}

/**
 * Memory a dump of the process tree rooted at `pid` writes, roughly: the anonymous and shared
 * memory it holds resident (RssAnon + RssShmem of /proc/<pid>/status, children included). File
 * pages are not counted: CRIU does not copy clean file-backed pages. Null when unreadable.
 */
export function readDumpableBytes(pid: number): number | null {
  let total = 0;
  for (const p of [pid, ...descendantsOf(pid)]) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${p}/status`, 'utf8');
    } catch {
      if (p === pid) return null;
      continue; // a child that exited meanwhile
    }
    for (const key of ['RssAnon', 'RssShmem']) {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
      if (m) total += Number(m[1]) * 1024;
    }
  }
  return total;
}

export function sameProcess(a: ProcessIdentity, b: ProcessIdentity): boolean {
  return a.pid === b.pid && a.startTime === b.startTime && a.bootId === b.bootId;
}

/** Throws ProcessChangedError unless `pid` is still the process `expected` describes. */
export function checkIdentity(expected: ProcessIdentity, actual: ProcessIdentity): void {
  if (!sameProcess(expected, actual)) {
    throw new ProcessChangedError(actual.pid, expected, actual);
  }
}

/** Every live process's parent, from one pass over /proc. */
function parentMap(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readProcStat(Number(name));
      if (stat) parents.set(stat.pid, stat.ppid);
    } catch {
      // raced with an exit
    }
  }
  return parents;
}

/** `root` and every pid below it in `parents`, repeated until no new child turns up (the map is unordered). */
function closureBelow(parents: Map<number, number>, root: number): Set<number> {
  const found = new Set<number>([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [child, ppid] of parents) {
      if (!found.has(child) && found.has(ppid)) {
        found.add(child);
        grew = true;
      }
    }
  }
  return found;
}

/** Pids of this process, its ancestors and its descendants. */
export function ownProcessTree(self: number = process.pid): Set<number> {
  const parents = parentMap();
  const tree = new Set<number>([self]);
  for (let p = parents.get(self); p !== undefined && p > 0 && !tree.has(p); p = parents.get(p)) tree.add(p);
  for (const pid of closureBelow(parents, self)) tree.add(pid);
  return tree;
}

/** Every live descendant of `pid` (children, grandchildren, ...): the tree CRIU dumps with it. */
export function descendantsOf(pid: number): number[] {
  const found = closureBelow(parentMap(), pid);
  found.delete(pid);
  return [...found].sort((a, b) => a - b);
}

/**
 * Checks that `pid` is a process ferry may checkpoint and returns its identity. Refuses pid 1,
 * kernel threads and ferry's own tree; with `expected`, refuses a recycled pid.
 */
export function checkTarget(pid: number, expected?: ProcessIdentity): ProcessIdentity {
  if (pid === 1) throw new RefusedTargetError(pid, 'init');
  const identity = readIdentitySync(pid);
  const stat = readProcStat(pid);
  if (!stat) throw new NoSuchProcessError(pid);
  // The PF_KTHREAD flag alone decides: pid 2 is kthreadd only in the root pid namespace; inside a
  // container or `unshare --pid` it is an ordinary process.
  if ((stat.flags & PF_KTHREAD) !== 0) {
    throw new RefusedTargetError(pid, 'kernel-thread');
  }
  if (ownProcessTree().has(pid)) throw new RefusedTargetError(pid, 'own-tree');
  if (expected) checkIdentity(expected, identity);
  return identity;
}

/** Polls until `pid` no longer exists (a zombie still holds it), up to `timeoutMs`. */
export async function waitForPidFree(pid: number, timeoutMs: number, pollMs = 50): Promise<ProcStat | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stat = readProcStat(pid);
    if (!stat) return null;
    if (Date.now() >= deadline) return stat;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
