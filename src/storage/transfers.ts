/**
 * What a transfer of many files (a layer put, a chain pull) shares: one abort for all of its
 * files, one progress count, and the tally of what was sent.
 */
import type { TransferOptions, TransferReport } from './types';
import type { UploadOutcome } from './upload-request';

/** An AbortSignal that fires when the caller's does, or when we stop the transfer ourselves. */
export function linkedController(signal?: AbortSignal): AbortController {
  const controller = new AbortController();
  if (signal) {
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  }
  return controller;
}

export function progressReporter(total: number, opts?: TransferOptions): (n: number) => void {
  let done = 0;
  opts?.onProgress?.({ bytesDone: 0, bytesTotal: total });
  return (n: number) => {
    done += n;
    opts?.onProgress?.({ bytesDone: Math.min(done, total), bytesTotal: total });
  };
}

/** The first failing transfer stops its siblings at once (they see the abort and settle). */
export function stopOthersOnFailure<T, R>(controller: AbortController, fn: (item: T) => Promise<R>): (item: T) => Promise<R> {
  return async (item: T) => {
    try {
      return await fn(item);
    } catch (err) {
      if (!controller.signal.aborted) controller.abort(err);
      throw err;
    }
  };
}

export function addSent(report: TransferReport, sent: UploadOutcome): void {
  report.bytesSent += sent.bytesSent;
  report.partsSent += sent.partsSent;
  report.partsReused += sent.partsReused;
}
