import { UsageError } from './usage-error';

/**
 * How commands print: one JSON document on stdout with --json, readable text otherwise.
 * Diagnostics go to stderr so that stdout stays parseable.
 */
export interface OutputOptions {
  json?: boolean;
}

let resultPrinted = false;

/**
 * Whether a command printed its result already in this run: a command that reports a finding and
 * then fails (`inspect` of a broken chain exits 1) has said everything on stdout, and main() must
 * not add an error document to it.
 */
export function printedResult(): boolean {
  return resultPrinted;
}

/** Forgets an earlier run's result (main() runs more than once in one process under tests and embedders). */
export function forgetPrintedResult(): void {
  resultPrinted = false;
}

export function emit<T>(options: OutputOptions, value: T, human: (value: T) => string): void {
  resultPrinted = true;
  if (options.json) {
    process.stdout.write(JSON.stringify(value, null, 2) + '\n');
  } else {
    const text = human(value);
    if (text) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }
}

/** Progress and notes for people; silent under --json so scripts see only the result. */
export function note(options: OutputOptions, message: string): void {
  if (!options.json) process.stderr.write(message + '\n');
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/**
 * A duration for people: milliseconds below a second (one decimal below 10 ms), seconds with one
 * decimal below a minute, then minutes and seconds. Exact numbers stay in --json.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 999.5) return `${Math.round(ms)} ms`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)} s`;
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 3600) return `${Math.floor(totalSeconds / 60)} min ${totalSeconds % 60} s`;
  return `${Math.floor(totalSeconds / 3600)} h ${Math.floor((totalSeconds % 3600) / 60)} min`;
}

/**
 * A user-given value quoted in an error message: whole when short, else its first 40 characters
 * and its length (a 120 KiB argument echoed back is no longer a clear error).
 */
export function quoted(raw: string, max = 40): string {
  return raw.length <= max ? JSON.stringify(raw) : `${JSON.stringify(raw.slice(0, max))}... (${raw.length} characters)`;
}

/** Parses a flag that counts something and may be 0, e.g. --keep-last. */
export function parseCount(flag: string, raw: string): number {
  const value = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value)) throw new UsageError(`${flag} must be a whole number (0 or more), got ${quoted(raw)}`);
  return value;
}

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration flag such as 7d, 36h, 90m or 0 into milliseconds. */
export function parseDuration(flag: string, raw: string): number {
  const m = /^(\d+)([smhd])?$/.exec(raw.trim());
  const ms = m ? Number(m[1]) * (m[2] ? DURATION_UNITS[m[2]]! : m[1] === '0' ? 0 : NaN) : NaN;
  if (!Number.isSafeInteger(ms)) throw new UsageError(`${flag} must be a duration such as 7d, 36h, 90m or 0, got ${quoted(raw)}`);
  return ms;
}

/** Parses a flag that must be a positive integer, e.g. --pid. */
export function parsePositiveInt(flag: string, raw: string): number {
  if (!/^\d+$/.test(raw.trim())) {
    throw new UsageError(`${flag} must be a positive integer, got ${quoted(raw)}`);
  }
  const value = Number(raw.trim());
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new UsageError(`${flag} must be a positive integer, got ${quoted(raw)}`);
  }
  return value;
}
