/**
 * The worker's connection to Temporal, waited for: a worker is often started alongside its
 * Temporal server (boot, `make demo`, a systemd unit), and exiting because the server is not up
 * yet would leave the host unserved. It retries with capped exponential backoff, says each time
 * what it waits for and why, and stops when told to (a signal) or after an optional bound.
 */
import { NativeConnection } from '@temporalio/worker';
import { WorkerSetupError } from './errors';

export interface ConnectWaitOptions {
  address: string;
  tls: boolean;
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
      const connection = await NativeConnection.connect({ address: opts.address, ...(opts.tls ? { tls: {} } : {}) });
      if (!opts.signal?.aborted) return connection;
      await connection.close();
      return null;
    } catch (err) {
      error = err;
    }
    const reason = (error as Error)?.message?.split('\n')[0] ?? String(error);
    const left = opts.timeoutMs === undefined ? Infinity : opts.timeoutMs - (Date.now() - started);
    if (left <= 0) {
      throw new WorkerSetupError(
        `cannot reach Temporal at ${opts.address} (tried ${attempt} time(s) in ${Math.round((Date.now() - started) / 1000)} s; last: ${reason}); ` +
          'start the dev stack with `ferry dev up` or set FERRY_TEMPORAL_ADDRESS',
        { cause: error },
      );
    }
    const wait = Math.min(delayMs, left);
    opts.onWait?.({ attempt, delayMs: wait, error: reason });
    await pause(wait, opts.signal);
    delayMs = Math.min(delayMs * 2, maxDelayMs);
  }
}
