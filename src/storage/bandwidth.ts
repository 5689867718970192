/**
 * A cap on the bytes a store moves per second, shared by every upload and download of one
 * LayerStore (one worker), so that a nightly pre-dump's transfers leave the host's network to the
 * processes it protects. Pacing, not a token bucket with a large burst: each transfer reserves its
 * bytes on a timeline that advances at the cap, and waits for its slot. Over any stretch longer
 * than one part the rate stays at or under the cap; parts in flight at once share it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TransferAborted } from '../core';

export class BandwidthLimit {
  /** When (performance.now() ms) the reserved bytes so far will have gone out at the cap. */
  private nextFreeAt = 0;

  constructor(readonly bytesPerSecond: number) {
    if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) throw new RangeError(`a bandwidth limit must be a positive rate, got ${bytesPerSecond}`);
  }

  /** Waits until `bytes` more may be moved without exceeding the cap. */
  async take(bytes: number, signal?: AbortSignal, what = 'transfer'): Promise<void> {
    const now = performance.now();
    const start = Math.max(now, this.nextFreeAt);
    this.nextFreeAt = start + (bytes / this.bytesPerSecond) * 1000;
    // Wait until the bytes before ours have had their time; ours then go out at link speed.
    const wait = start - now;
    if (wait <= 0) return;
    try {
      await sleep(wait, undefined, signal ? { signal } : {});
    } catch (err) {
      throw new TransferAborted(what, { cause: err });
    }
  }
}
