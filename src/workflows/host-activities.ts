/**
 * Proxies to the activities of one host, with the timeouts and retries each kind of step needs.
 * Everything runs on the host's own task queue: CRIU must run where the process is, and a layer
 * must be uploaded from the disk it was dumped to.
 */
import type { Duration } from '@temporalio/common';
import { ActivityCancellationType, proxyActivities, type RetryPolicy } from '@temporalio/workflow';
import type { FerryActivities } from '../activities';
import type { HostCapabilities } from '../activities/types';
import { asHostUnavailable } from './failures';
import { PERMANENT_FAILURE_TYPES, hostTaskQueue } from '../core';

const nonRetryableErrorTypes = [...PERMANENT_FAILURE_TYPES];
const RETRY_QUICK: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '20s', maximumAttempts: 5, nonRetryableErrorTypes };

export function hostActivities(prefix: string, host: string) {
  const taskQueue = hostTaskQueue(prefix, host);
  // WAIT_CANCELLATION_COMPLETED: on cancel the workflow waits until the activity has stopped and
  // cleaned up, so its own clean-up never races a CRIU call still writing into staging.
  const cancellationType = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED;

  // The first call to a host: a short schedule-to-start timeout turns "no worker polls this
  // host's queue" into a clear failure instead of a workflow waiting forever.
  const probe = proxyActivities<FerryActivities>({
    taskQueue,
    scheduleToStartTimeout: '60s',
    startToCloseTimeout: '60s',
    retry: RETRY_QUICK,
  });
  const quick = proxyActivities<FerryActivities>({
    taskQueue,
    startToCloseTimeout: '2m',
    retry: RETRY_QUICK,
    cancellationType,
  });
  // Long steps heartbeat while they run, so a dead worker is noticed within `heartbeat`, not at
  // the end of `limit`; `attempts` bounds how often a transient failure is retried.
  const longRunning = (limit: Duration, heartbeat: Duration, attempts: number) =>
    proxyActivities<FerryActivities>({
      taskQueue,
      startToCloseTimeout: limit,
      heartbeatTimeout: heartbeat,
      retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: heartbeat, maximumAttempts: attempts, nonRetryableErrorTypes },
      cancellationType,
    });
  // A dump or a restore is one CRIU call: a few attempts, since a retry redoes the whole call.
  const dump = longRunning('30m', '30s', 3);
  const restore = longRunning('30m', '30s', 3);
  // Transfers resume where they stopped (stored parts are not resent), so they may retry more.
  const transfer = longRunning('2h', '60s', 10);
  // A direct transfer is tried once: when it fails the migration takes the store path at once.
  const direct = longRunning('2h', '30s', 1);
  // Post-copy steps hold CRIU and a tunnel in the worker: a retry could not pick them up.
  const lazy = longRunning('6h', '30s', 1);
  return {
    checkHost: probe.checkHost,
    identifyProcess: quick.identifyProcess,
    measureProcess: quick.measureProcess,
    resolvePid: quick.resolvePid,
    preDumpLayer: dump.preDumpLayer,
    dumpLayer: dump.dumpLayer,
    uploadLayer: transfer.uploadLayer,
    commitCheckpoint: quick.commitCheckpoint,
    assertCheckpointIdFree: quick.assertCheckpointIdFree,
    downloadChain: transfer.downloadChain,
    restoreProcess: restore.restoreProcess,
    cleanStaging: quick.cleanStaging,
    discardCheckpoint: quick.discardCheckpoint,
    readWarmChain: quick.readWarmChain,
    recordWarmChain: quick.recordWarmChain,
    prepareDirectSend: quick.prepareDirectSend,
    openDirectReceiver: quick.openDirectReceiver,
    sendLayersDirect: direct.sendLayersDirect,
    openPageTunnel: quick.openPageTunnel,
    startLazyDump: lazy.startLazyDump,
    lazyRestoreProcess: lazy.restoreProcess,
    finishLazyDump: lazy.finishLazyDump,
    abortLazyDump: probe.abortLazyDump,
    // Like the probe: a host that is gone must not hold up the clean-up after a failure.
    closeDirectLink: probe.closeDirectLink,
  };
}

export type HostActivities = ReturnType<typeof hostActivities>;

/**
 * A workflow's first call to a host. When no worker serves the host the failure names it and says
 * how to start one; `progress`, a workflow's query state, then shows the workflow failed.
 */
export async function probeHost(acts: HostActivities, prefix: string, host: string, progress?: { stage: string }): Promise<HostCapabilities> {
  try {
    return await acts.checkHost();
  } catch (err) {
    if (progress) progress.stage = 'failed';
    throw asHostUnavailable(err, prefix, host);
  }
}
