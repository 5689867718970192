/**
 * Workflow `restore`: download a stored checkpoint onto a host, verify it, restore the process
 * there, and return its new pid. The downloaded images are removed afterwards either way.
 */
import { CancellationScope, defineQuery, setHandler, workflowInfo } from '@temporalio/workflow';
import { validateCheckpointId, validateHost, validatePrefix } from './input-validation';
import { asHostUnavailable, invalidInput } from './failures';
import { hostActivities } from './host-activities';
import { PROGRESS_QUERY } from './names';
import type { RestoreInput, RestoreResult } from './types';

export interface RestoreProgress {
  stage: 'checking-host' | 'downloading' | 'restoring' | 'cleaning' | 'done' | 'failed';
  checkpointId: string;
  host: string;
}

export const restoreProgressQuery = defineQuery<RestoreProgress>(PROGRESS_QUERY);

export async function restore(input: RestoreInput): Promise<RestoreResult> {
  if (typeof input !== 'object' || input === null) throw invalidInput('restore input must be a JSON object');
  const host = validateHost(input.host);
  const checkpointId = validateCheckpointId(input.checkpointId);
  const prefix = validatePrefix(input.taskQueuePrefix);
  const startedAt = Date.now();
  const acts = hostActivities(prefix, host);
  const progress: RestoreProgress = { stage: 'checking-host', checkpointId, host };
  setHandler(restoreProgressQuery, () => progress);

  try {
    await acts.checkHost();
  } catch (err) {
    progress.stage = 'failed';
    throw asHostUnavailable(err, prefix, host);
  }
  progress.stage = 'downloading';
  const dl = await acts.downloadChain({ checkpointId, downloadId: workflowInfo().runId });
  try {
    progress.stage = 'restoring';
    const r = await acts.restoreProcess({ imagesDir: dl.imagesDir });
    progress.stage = 'done';
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
      durationMs: Date.now() - startedAt,
    };
  } catch (err) {
    progress.stage = 'failed';
    throw err;
  } finally {
    await CancellationScope.nonCancellable(() => acts.cleanStaging({ dir: dl.stagingDir }));
  }
}
