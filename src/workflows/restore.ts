/**
 * Workflow `restore`: download a stored checkpoint onto a host, verify it, restore the process
 * there, and return its new pid. The downloaded images are removed afterwards either way.
 */
import { CancellationScope, defineQuery, setHandler, workflowInfo } from '@temporalio/workflow';
import type { DownloadResult, RestoreOutcome } from '../activities/types';
import { invalidInput } from './failures';
import { hostActivities, probeHost } from './host-activities';
import { validateCheckpointId, validateHost, validatePrefix } from './input-validation';
import { PROGRESS_QUERY } from '../core';
import type { RestoreInput, RestoreResult } from './types';
import { recordChainLength, withOutcomeMetric } from './metrics';

export interface RestoreProgress {
  stage: 'checking-host' | 'downloading' | 'restoring' | 'cleaning' | 'done' | 'failed';
  checkpointId: string;
  host: string;
}

export const restoreProgressQuery = defineQuery<RestoreProgress>(PROGRESS_QUERY);

/** The result of a download and a restore on `host`; what `durationMs` spans is the caller's to say. */
export function restoreResult(checkpointId: string, host: string, dl: DownloadResult, r: RestoreOutcome, durationMs: number): RestoreResult {
  return {
    checkpointId,
    workflowId: workflowInfo().workflowId,
    host,
    pid: r.pid,
    layers: dl.layers,
    bytesDownloaded: dl.bytes,
    downloadMs: dl.durationMs,
    restoreMs: r.durationMs,
    restoreTimeUs: r.restoreTimeUs,
    runningAtMs: r.finishedAtMs,
    durationMs,
  };
}

export async function restore(input: RestoreInput): Promise<RestoreResult> {
  return withOutcomeMetric('restore', () => runRestore(input), (r) => recordChainLength('restore', r.layers));
}

async function runRestore(input: RestoreInput): Promise<RestoreResult> {
  if (typeof input !== 'object' || input === null) throw invalidInput('restore input must be a JSON object');
  const host = validateHost(input.host);
  const checkpointId = validateCheckpointId(input.checkpointId);
  const prefix = validatePrefix(input.taskQueuePrefix);
  const startedAt = Date.now();
  const acts = hostActivities(prefix, host);
  const progress: RestoreProgress = { stage: 'checking-host', checkpointId, host };
  setHandler(restoreProgressQuery, () => progress);

  await probeHost(acts, prefix, host, progress);
  progress.stage = 'downloading';
  const dl = await acts.downloadChain({ checkpointId, downloadId: workflowInfo().runId });
  try {
    progress.stage = 'restoring';
    const r = await acts.restoreProcess({ imagesDir: dl.imagesDir });
    progress.stage = 'done';
    return restoreResult(checkpointId, host, dl, r, Date.now() - startedAt);
  } catch (err) {
    progress.stage = 'failed';
    throw err;
  } finally {
    await CancellationScope.nonCancellable(() => acts.cleanStaging({ dir: dl.stagingDir }));
  }
}
