/**
 * CRIU's own log: the only place that says why a request failed. cr_errmsg in RPC responses holds
 * the first error CRIU logged, which on a host without CAP_SYS_RESOURCE is always a harmless
 * RLIMIT_NOFILE complaint, so ferry reads the log file CRIU wrote into the work (images) dir.
 */
import fs from 'node:fs';

/** Errors CRIU logs on every run here and that never explain a failure. */
const NOISE = [/Can't setup RLIMIT_NOFILE for self/];

const MAX_READ = 256 * 1024;

/**
 * Errors that name a real cause. CRIU keeps going after the first failure and logs its
 * consequences last (a restore that cannot open a file ends with "<pid> killed by signal 9"), so
 * the first line matching one of these is the one a user needs.
 */
const KNOWN_CAUSES = [
  /has bad size/,
  /Can't fork/,
  /No such file/,
  /Permission denied|Operation not permitted/,
  /not a session leader|session leader of .* is outside of its pid namespace/,
  /File exists/,
  /No space left/,
  /Pid-reuse|Pid reuse/,
  /Can't (open|find|read|dump|restore|mmap)/,
  /Unable to|Unsupported|not supported/i,
];

const isError = (l: string): boolean => /\bError \(|\bBUG\b/.test(l);

/** CRIU's closing lines say only that the step failed; the cause is the error before them. */
const GENERIC = /(Dumping|Pre-dumping|Restoring|Dump) FAILED|Exiting with failure|killed by signal|exited, status=/i;

/**
 * The telling lines of a CRIU log (at most `max`): the first error that names a known cause (or,
 * failing that, the first error that is not a generic "FAILED"), then the last error lines; the
 * last lines of the log when it logged no error.
 */
export function readLogTail(file: string, max = 6): string[] {
  let text: string;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(size, MAX_READ);
      const buf = Buffer.alloc(length);
      fs.readSync(fd, buf, 0, length, size - length);
      text = buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return [];
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !NOISE.some((n) => n.test(l)));
  const errors = lines.filter(isError);
  if (errors.length === 0) return lines.slice(-max).map(stripTimestamp);
  const firstIndex = findIndex(errors, (l) => KNOWN_CAUSES.some((re) => re.test(l)), (l) => !GENERIC.test(l));
  const lastStart = Math.max(0, errors.length - max);
  if (firstIndex < 0 || firstIndex >= lastStart) return errors.slice(lastStart).map(stripTimestamp);
  // The cause first, then the most recent errors (one fewer, to stay within `max`).
  return [errors[firstIndex]!, ...errors.slice(Math.max(firstIndex + 1, errors.length - (max - 1)))].map(stripTimestamp);
}

/** Index of the first line matching `best`, else the first matching `fallback`, else -1. */
function findIndex(lines: string[], best: (l: string) => boolean, fallback: (l: string) => boolean): number {
  const i = lines.findIndex(best);
  return i >= 0 ? i : lines.findIndex(fallback);
}

/** The most telling line of a log tail: the first known cause, else the last error that is not a generic "FAILED". */
export function mainCause(tail: string[]): string | undefined {
  const known = tail.find((l) => KNOWN_CAUSES.some((re) => re.test(l)) && !GENERIC.test(l));
  if (known) return known;
  const specific = tail.filter((l) => !GENERIC.test(l));
  return specific[specific.length - 1] ?? tail[tail.length - 1];
}

/** "(00.012345) Error (criu/x.c:1): msg" -> "Error (criu/x.c:1): msg" */
function stripTimestamp(line: string): string {
  return line.replace(/^\(\s*\d+\.\d+\)\s*/, '');
}
