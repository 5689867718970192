/**
 * The rates a worker remembers between checkpoints, for a checkpoint's first decision (before it
 * has measured anything itself). Every dump and upload has a fixed cost (starting CRIU, a request
 * round trip) that a rate taken from a small sample counts as if it were per byte: a 5 MiB catch-up
 * pre-dump under emulation looks 20 times slower than the 128 MiB layer before it. So the biggest
 * recent sample wins; a smaller one replaces it only once it is stale.
 */
import type { HostRates } from './types';

/** A sample older than this gives way to any newer one: the host's load may have changed. */
export const RATE_SAMPLE_MAX_AGE_MS = 60 * 60 * 1000;

interface Sample {
  bytesPerMs: number;
  /** How much the sample moved (bytes): its weight against the fixed cost. */
  bytes: number;
  atMs: number;
}

export class HostRateMemory {
  private dump: Sample | null = null;
  private upload: Sample | null = null;

  /** The remembered rates, as a checkpoint's first decision sees them. */
  current(): HostRates {
    return { dumpBytesPerMs: this.dump?.bytesPerMs ?? null, uploadBytesPerMs: this.upload?.bytesPerMs ?? null };
  }

  noteDump(bytes: number, durationMs: number, atMs: number): void {
    this.dump = better(this.dump, bytes, durationMs, atMs);
  }

  noteUpload(bytes: number, durationMs: number, atMs: number): void {
    this.upload = better(this.upload, bytes, durationMs, atMs);
  }
}

function better(kept: Sample | null, bytes: number, durationMs: number, atMs: number): Sample | null {
  if (!(bytes > 0 && durationMs > 0)) return kept;
  const fresh = { bytesPerMs: bytes / durationMs, bytes, atMs };
  if (kept === null || bytes >= kept.bytes || atMs - kept.atMs > RATE_SAMPLE_MAX_AGE_MS) return fresh;
  return kept;
}
