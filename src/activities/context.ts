/**
 * What the activities of one host share: their dependencies, the staging layout, the host clock,
 * a heartbeat for long single calls, and the mapping of failures to retry decisions.
 */
import { CancelledFailure, cancellationSignal, heartbeat } from '@temporalio/activity';
import type { ActivityDeps } from './deps';
import { HostRateMemory } from './host-rates';
import { toActivityFailure } from './failures';
import { StagingLayout } from './staging';

export interface ActivityContext {
  deps: ActivityDeps;
  staging: StagingLayout;
  /** Host wall clock. */
  now: () => number;
  /**
   * Rates this worker measured on its dumps and uploads: a checkpoint's first decision uses them
   * before it has measured anything itself. In memory only; a new worker starts with none.
   */
  rates: HostRateMemory;
  /** Heartbeats while a single long call (a CRIU dump) runs, so a dead worker or a cancel is seen. */
  whileBeating<T>(details: unknown, work: Promise<T>): Promise<T>;
}

export function activityContext(deps: ActivityDeps): ActivityContext {
  const beatEvery = deps.heartbeatIntervalMs ?? 5000;
  return {
    deps,
    staging: new StagingLayout(deps.stagingDir),
    now: deps.now ?? Date.now,
    rates: new HostRateMemory(),
    async whileBeating<T>(details: unknown, work: Promise<T>): Promise<T> {
      heartbeat(details);
      const timer = setInterval(() => heartbeat(details), beatEvery);
      try {
        return await work;
      } finally {
        clearInterval(timer);
      }
    },
  };
}

/**
 * Runs an activity body and maps its failure to the retry decision (failures.ts). A failure
 * caused by our own cancellation (an aborted transfer) is reported as the cancellation it is.
 */
export async function mapped<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (cancellationSignal().aborted && !(err instanceof CancelledFailure)) {
      throw new CancelledFailure(`cancelled: ${(err as Error)?.message ?? String(err)}`, undefined, err instanceof Error ? err : undefined);
    }
    throw toActivityFailure(err);
  }
}
