/**
 * CRIU's own log: the only place that says why a request failed. cr_errmsg in RPC responses holds
 * the first error CRIU logged, which on a host without CAP_SYS_RESOURCE is always a harmless
 * RLIMIT_NOFILE complaint, so ferry reads the log file CRIU wrote into the work (images) dir.
 */
import fs from 'node:fs';

/** Errors CRIU logs on every run here and that never explain a failure. */
const NOISE = [/Can't setup RLIMIT_NOFILE for self/];

const MAX_READ = 256 * 1024;

/** The last error lines of a CRIU log (at most `max`), or its last lines when it logged no error. */
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
  const errors = lines.filter((l) => /\bError \(|\bBUG\b/.test(l));
  return (errors.length > 0 ? errors : lines).slice(-max).map(stripTimestamp);
}

/** CRIU's closing lines say only that the step failed; the cause is the error before them. */
const GENERIC = /(Dumping|Pre-dumping|Restoring|Dump) FAILED|Exiting with failure/i;

/** The most telling line of a log tail: the last error that is not a generic "FAILED". */
export function mainCause(tail: string[]): string | undefined {
  const specific = tail.filter((l) => !GENERIC.test(l));
  return specific[specific.length - 1] ?? tail[tail.length - 1];
}

/** "(00.012345) Error (criu/x.c:1): msg" -> "Error (criu/x.c:1): msg" */
function stripTimestamp(line: string): string {
  return line.replace(/^\(\s*\d+\.\d+\)\s*/, '');
}
