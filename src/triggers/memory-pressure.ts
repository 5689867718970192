/**
 * The `memory-pressure` event source: a rule's `memory` thresholds, checked on a timer.
 *
 * - `psiAbove`: the `some avg10` figure of a PSI file (`/proc/pressure/memory`, or a cgroup v2
 *   group's `memory.pressure`): the share of the last 10 s in which some task stalled on memory.
 * - `rssAboveBytes`: the resident memory of the matched process tree (VmRSS of each process).
 *
 * One episode, one event: a rule fires when a threshold is crossed upwards and not again until
 * the value has dropped below it. The episode number is part of the event id, so a restarted
 * worker's first episode is deduplicated against the one fired before the restart (and a real new
 * episode right after a restart is missed: a checkpoint just taken covers it).
 */
import fs from 'node:fs';
import { descendantsOf } from '../criu/process';

export interface Psi {
  someAvg10: number;
  fullAvg10: number | null;
}

/** A PSI file's text (`some avg10=1.23 avg60=... total=...` and, for memory, a `full` line). */
export function parsePsi(text: string): Psi {
  const field = (kind: string): number | null => {
    const m = new RegExp(`^${kind} avg10=(\\d+(?:\\.\\d+)?) `, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  const some = field('some');
  if (some === null) throw new Error('not a pressure stall information file (no "some avg10=" line)');
  return { someAvg10: some, fullAvg10: field('full') };
}

export function readPsi(file: string): Psi {
  return parsePsi(fs.readFileSync(file, 'utf8'));
}

/** VmRSS of `pid` and its descendants, bytes; null when the process is gone. */
export function treeRssBytes(pid: number): number | null {
  let total = 0;
  for (const p of [pid, ...descendantsOf(pid)]) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${p}/status`, 'utf8');
    } catch {
      if (p === pid) return null;
      continue;
    }
    const m = /^VmRSS:\s+(\d+) kB/m.exec(text);
    if (m) total += Number(m[1]) * 1024;
  }
  return total;
}

/** Crossing detection for one (rule, key): fires on the way up only. */
export class Episodes {
  private readonly above = new Map<string, boolean>();
  private readonly counts = new Map<string, number>();

  /** The episode number when `key` has just crossed upwards, else null. */
  observe(key: string, isAbove: boolean): number | null {
    const was = this.above.get(key) ?? false;
    this.above.set(key, isAbove);
    if (!isAbove || was) return null;
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    return n;
  }
}
