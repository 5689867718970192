/**
 * The worker's connection to Temporal, waited for: a worker is often started alongside its
 * Temporal server (boot, `make demo`, a systemd unit), and exiting because the server is not up
 * yet would leave the host unserved. It retries with capped exponential backoff, says each time
 * what it waits for and why, and stops when told to (a signal) or after an optional bound.
 *
 * Only "not there (yet)" is waited for. A server that answers but refuses the TLS settings (no
 * client certificate, an untrusted one, a server certificate ferry does not trust, TLS against a
 * plain server) is a configuration to fix, not an outage: that fails at once, saying which.
 */
import type { NativeConnection } from '@temporalio/worker';
import { WorkerSetupError } from './errors';

export interface ConnectWaitOptions {
  address: string;
  /** One connection attempt (the worker's NativeConnection.connect with its TLS settings). */
  connect: () => Promise<NativeConnection>;
  /**
   * Why an attempt failed, found by probing the transport: `waitable` false for a refusal that
   * waiting will not fix. `message` is the whole explanation, naming the settings to change.
   */
  explain: (err: unknown) => Promise<{ waitable: boolean; message: string; reason: string }>;
  /** Give up after this long (ms); default: keep waiting. */
  timeoutMs?: number;
  /** First wait between attempts (default 1 s); doubled after each failure up to maxDelayMs. */
  initialDelayMs?: number;
  /** Longest wait between attempts (default 30 s). */
  maxDelayMs?: number;
  /** Aborting it ends the wait: connectWithRetry then resolves to null. */
  signal?: AbortSignal;
  /** Told before each wait: which attempt failed, why, and how long until the next. */
  onWait?: (info: { attempt: number; delayMs: number; error: string }) => void;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The connection, or null when `signal` aborted the wait. Throws WorkerSetupError once timeoutMs has passed. */
export async function connectWithRetry(opts: ConnectWaitOptions): Promise<NativeConnection | null> {
  const started = Date.now();
  let delayMs = opts.initialDelayMs ?? 1000;
  const maxDelayMs = opts.maxDelayMs ?? 30_000;
  for (let attempt = 1; ; attempt++) {
    if (opts.signal?.aborted) return null;
    let error: unknown;
    try {
      const connection = await opts.connect();
      if (!opts.signal?.aborted) return connection;
      await connection.close();
      return null;
    } catch (err) {
      error = err;
    }
    const why = await opts.explain(error);
    if (!why.waitable) throw new WorkerSetupError(why.message, { cause: error });
    const reason = why.reason;
    const left = opts.timeoutMs === undefined ? Infinity : opts.timeoutMs - (Date.now() - started);
    if (left <= 0) {
      throw new WorkerSetupError(`${why.message} (tried ${attempt} time(s) in ${Math.round((Date.now() - started) / 1000)} s)`, { cause: error });
    }
    const wait = Math.min(delayMs, left);
    opts.onWait?.({ attempt, delayMs: wait, error: reason });
    await pause(wait, opts.signal);
    delayMs = Math.min(delayMs * 2, maxDelayMs);
  }
}
