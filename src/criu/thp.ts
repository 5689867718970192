/**
 * Transparent huge pages and pre-dumps. The kernel keeps one soft-dirty bit per page table entry,
 * and a THP-backed region is mapped by one 2 MiB entry: a single written byte marks the whole
 * 2 MiB dirty. With THP "always" (Debian's default) a process that writes scattered pages makes
 * every later pre-dump rewrite nearly all of its memory, and the final dump freezes it almost as
 * long as a full dump would (measured in the soft-dirty lab, docs/lab.md). ferry cannot change
 * this from outside the process, so it warns after the first pre-dump.
 */
import fs from 'node:fs';

/** Share of anonymous memory backed by huge pages above which pre-dumps lose most of their point. */
export const THP_WARN_RATIO = 0.5;

export interface SmapsRollup {
  /** `Anonymous:` in KiB. */
  anonymousKb: number;
  /** `AnonHugePages:` in KiB (THP-backed anonymous memory; part of Anonymous). */
  anonHugePagesKb: number;
}

/** Parses /proc/PID/smaps_rollup; null when either field is missing or malformed. */
export function parseSmapsRollup(text: string): SmapsRollup | null {
  const field = (name: string): number | null => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  const anonymousKb = field('Anonymous');
  const anonHugePagesKb = field('AnonHugePages');
  if (anonymousKb === null || anonHugePagesKb === null) return null;
  return { anonymousKb, anonHugePagesKb };
}

/** The warning for `rollup`, or null when huge pages back at most THP_WARN_RATIO of anonymous memory. */
export function thpWarning(pid: number, rollup: SmapsRollup, thpMode: string | null): string | null {
  if (rollup.anonymousKb <= 0) return null;
  const ratio = rollup.anonHugePagesKb / rollup.anonymousKb;
  if (ratio <= THP_WARN_RATIO) return null;
  const mib = (kb: number): string => `${(kb / 1024).toFixed(1)} MiB`;
  return (
    `transparent huge pages back ${Math.round(ratio * 100)}% of pid ${pid}'s anonymous memory ` +
    `(${mib(rollup.anonHugePagesKb)} of ${mib(rollup.anonymousKb)}${thpMode ? `; THP mode "${thpMode}"` : ''}): ` +
    'soft-dirty tracking marks a whole 2 MiB huge page dirty for one written byte, so later pre-dumps may rewrite ' +
    'most of the memory and save little frozen time. To fix: set THP to madvise mode ' +
    '(echo madvise > /sys/kernel/mm/transparent_hugepage/enabled) before starting the process, or have it call ' +
    'madvise(MADV_NOHUGEPAGE) on its large buffers'
  );
}

/** The active THP mode ("always", "madvise", "never"), or null when unknown. */
export function readThpMode(file = '/sys/kernel/mm/transparent_hugepage/enabled'): string | null {
  try {
    return /\[(\w+)\]/.exec(fs.readFileSync(file, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** The THP warning for a running process, or null (also when /proc cannot be read: it is advice only). */
export function checkThp(pid: number): string | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return null;
  }
  const rollup = parseSmapsRollup(text);
  return rollup ? thpWarning(pid, rollup, readThpMode()) : null;
}
