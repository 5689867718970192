/**
 * Processes the dev stack starts, identified so that a recycled pid is never mistaken for ours:
 * a pid plus its start time (field 22 of /proc/<pid>/stat) plus the boot id (start times only
 * compare within one boot).
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessRecord {
  pid: number;
  /** Clock ticks after boot at which the process started. */
  startTime: number;
  bootId: string;
}

export interface ComponentProcStat {
  comm: string;
  /** One-letter state (R, S, D, Z, ...). */
  state: string;
  startTime: number;
}

/** Parses /proc/<pid>/stat. comm may hold spaces and parentheses, so split at the last ')'. */
export function parseProcStat(text: string): ComponentProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state), so field 22 (starttime) is rest[19].
  const startTime = Number(rest[19]);
  if (!rest[0] || !Number.isSafeInteger(startTime)) return null;
  return { comm: text.slice(open + 1, close), state: rest[0], startTime };
}

export async function readProcStat(pid: number): Promise<ComponentProcStat | null> {
  try {
    return parseProcStat(await fs.readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

let bootIdCache: string | undefined;
export async function readBootId(): Promise<string> {
  bootIdCache ??= (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  return bootIdCache;
}

/** The identity of a live process, or null if it is gone. */
export async function identifyProcess(pid: number): Promise<ProcessRecord | null> {
  const stat = await readProcStat(pid);
  if (!stat || stat.state === 'Z') return null;
  return { pid, startTime: stat.startTime, bootId: await readBootId() };
}

/** True while the recorded process itself (not a later one reusing its pid) is alive. */
export async function isRecordedProcessAlive(record: ProcessRecord): Promise<boolean> {
  if ((await readBootId()) !== record.bootId) return false;
  const stat = await readProcStat(record.pid);
  // A zombie has exited; only its parent's wait() is missing.
  return stat !== null && stat.state !== 'Z' && stat.startTime === record.startTime;
}

export type StopOutcome = 'not-running' | 'stopped' | 'killed';

/**
 * Stops a recorded process and its process group (each component runs in its own session):
 * SIGTERM, up to graceMs for it to exit, then SIGKILL. Signals go out only after the identity
 * check, so a recycled pid is never touched. Returns 'killed' if SIGKILL was needed; throws
 * nothing; the caller checks isRecordedProcessAlive afterwards if it must be sure.
 */
export async function stopRecordedProcess(record: ProcessRecord, graceMs = 10_000, killWaitMs = 5_000): Promise<StopOutcome> {
  if (!(await isRecordedProcessAlive(record))) return 'not-running';
  signalGroup(record.pid, 'SIGTERM');
  if (await waitUntilGone(record, graceMs)) return 'stopped';
  if (!(await isRecordedProcessAlive(record))) return 'stopped';
  signalGroup(record.pid, 'SIGKILL');
  await waitUntilGone(record, killWaitMs);
  return 'killed';
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Not a group leader after all (or already gone): signal the process alone.
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }
}

async function waitUntilGone(record: ProcessRecord, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await isRecordedProcessAlive(record))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
}

/** Resolves a command name on PATH the way a shell would, or null. */
export async function findOnPath(name: string, envPath = process.env.PATH ?? ''): Promise<string | null> {
  const candidates = name.includes('/') ? [path.resolve(name)] : envPath.split(path.delimiter).filter(Boolean).map((d) => path.join(d, name));
  for (const file of candidates) {
    try {
      const st = await fs.stat(file);
      if (!st.isFile()) continue;
      await fs.access(file, fsConstants.X_OK);
      return file;
    } catch {
      /* next */
    }
  }
  return null;
}
