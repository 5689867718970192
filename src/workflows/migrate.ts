/**
 * Workflow `migrate`: checkpoint a process on host A (pre-dumps while it runs, then the final
 * dump stops it), restore it on host B, and report the downtime (freeze on A to running on B)
 * with its parts. Layers stored before the freeze (pre-dumps, warm base layers) are fetched to B
 * while the process still runs on A, so only the final layer moves inside the downtime. If
 * anything fails after the process stopped on A, it is restored on A from A's local images, so a
 * failed migration never loses the process.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { checkpoint, layersStoredSignal, prefetchedSignal } from './checkpoint';
import { validateCheckpointId, validateHost, validatePid, validatePrefix } from './input-validation';
import { innermostMessage, invalidInput } from './failures';
import { hostActivities, probeHost } from './host-activities';
import { DUMP_NOW_SIGNAL, FAILURE_TYPES, PATCHES, PROGRESS_QUERY, processWorkflowId, workflowTaskQueue } from './names';
import { restoreResult } from './restore';
import type { CheckpointResult, DowntimeBreakdown, LayersStored, MigrateInput, MigrateResult, PrefetchSummary, RestoreResult } from './types';

export interface MigrateProgress {
  stage: 'checking-hosts' | 'checkpointing' | 'prefetching' | 'downloading' | 'restoring' | 'rolling-back' | 'cleaning' | 'done' | 'failed';
  from: string;
  to: string;
  pid: number;
  /** The checkpoint child workflow: query it for layer-level progress. */
  checkpointWorkflowId: string;
}

export const migrateProgressQuery = defineQuery<MigrateProgress>(PROGRESS_QUERY);
export const migrateDumpNowSignal = defineSignal(DUMP_NOW_SIGNAL);

export function downtimeOf(ck: CheckpointResult, downloadMs: number, restoreMs: number, runningAtMs: number): DowntimeBreakdown {
  // Host wall clocks: exact on one machine, as good as the hosts' clock sync otherwise.
  const totalMs = Math.max(0, runningAtMs - ck.finalDump.startedAtMs);
  const known = ck.finalDump.durationMs + ck.finalDump.uploadMs + ck.commitMs + downloadMs + restoreMs;
  return {
    totalMs,
    parts: {
      frozenDumpMs: ck.finalDump.frozenMs,
      finalDumpMs: ck.finalDump.durationMs,
      uploadMs: ck.finalDump.uploadMs,
      commitMs: ck.commitMs,
      downloadMs,
      restoreMs,
      otherMs: Math.max(0, totalMs - known),
    },
  };
}

export async function migrate(input: MigrateInput): Promise<MigrateResult> {
  if (typeof input !== 'object' || input === null) throw invalidInput('migrate input must be a JSON object');
  const from = validateHost(input.from, 'from');
  const to = validateHost(input.to, 'to');
  const pid = validatePid(input.pid);
  const prefix = validatePrefix(input.taskQueuePrefix);
  if (input.checkpointId !== undefined) validateCheckpointId(input.checkpointId);
  if (from === to) throw invalidInput(`from and to are both ${JSON.stringify(from)}; a migration needs two different hosts`);
  const startedAt = Date.now();
  const source = hostActivities(prefix, from);
  const target = hostActivities(prefix, to);
  const checkpointWorkflowId = processWorkflowId(from, pid);
  const progress: MigrateProgress = { stage: 'checking-hosts', from, to, pid, checkpointWorkflowId };
  setHandler(migrateProgressQuery, () => progress);
  let checkpointRunning = false;
  setHandler(migrateDumpNowSignal, async () => {
    if (checkpointRunning) await getExternalWorkflowHandle(checkpointWorkflowId).signal(DUMP_NOW_SIGNAL);
  });

  // The target must be there before the source process is stopped.
  await probeHost(target, prefix, to, progress);

  progress.stage = 'checkpointing';
  // Runs started before the prefetch existed replay without it.
  const prefetchEnabled = patched(PATCHES.migratePrefetch);
  const downloadId = workflowInfo().runId;
  let stored: LayersStored | null = null;
  setHandler(layersStoredSignal, (announcement) => {
    stored = announcement;
  });
  let prefetch: PrefetchSummary | null = null;
  let prefetchProblem: string | null = null;
  // The target's download dir once the prefetch filled it: the final download adds to it.
  let prefetchDir: string | null = null;
  let ck: CheckpointResult;
  try {
    checkpointRunning = true;
    const child = await startChild(checkpoint, {
      workflowId: checkpointWorkflowId,
      taskQueue: workflowTaskQueue(prefix),
      args: [
        {
          host: from,
          pid,
          policy: input.policy,
          // A warm chain (nightly pre-dumps) is used when there is one, unless turned off.
          fromWarm: input.fromWarm !== false,
          checkpointId: input.checkpointId,
          leaveRunning: false,
          keepStaging: true,
          taskQueuePrefix: prefix,
          ...(prefetchEnabled ? { announceStoredLayers: true } : {}),
        },
      ],
    });
    const finished = child.result();
    if (prefetchEnabled) {
      // The checkpoint either announces stored layers and waits for us, or ends without any.
      const announced = await Promise.race([condition(() => stored !== null).then(() => true), finished.then(() => false, () => false)]);
      if (announced && stored !== null) {
        progress.stage = 'prefetching';
        const checkpointId = (stored as LayersStored).checkpointId;
        try {
          const pf = await target.downloadChain({ checkpointId, downloadId, allowIncomplete: true });
          prefetchDir = pf.stagingDir;
          prefetch = { layers: pf.layersDownloaded, bytes: pf.bytes, durationMs: pf.durationMs };
        } catch (err) {
          if (isCancellation(err)) throw err;
          // Not fatal: the download after the final dump then fetches everything, inside the downtime.
          prefetchProblem = innermostMessage(err);
          log.warn('prefetch of the stored layers failed; the whole chain will be downloaded after the final dump', { checkpointId, problem: prefetchProblem });
        }
        progress.stage = 'checkpointing';
        // If the checkpoint already ended (it failed, or gave up waiting), `finished` says how.
        await child.signal(prefetchedSignal).catch(() => undefined);
      }
    }
    ck = await finished;
  } catch (err) {
    progress.stage = 'failed';
    if (prefetchDir !== null) {
      const dir = prefetchDir;
      await CancellationScope.nonCancellable(() => target.cleanStaging({ dir }));
    }
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw ApplicationFailure.create({
        type: FAILURE_TYPES.checkpointInProgress,
        message: `pid ${pid} on host ${from} is already being checkpointed (workflow ${checkpointWorkflowId}); wait for it or cancel it, then retry`,
        nonRetryable: true,
      });
    }
    throw err;
  } finally {
    checkpointRunning = false;
  }

  // From here the process exists only as images: finish (or roll back) whatever happens.
  return await CancellationScope.nonCancellable(async () => {
    const finalLayer = ck.layers[ck.layers.length - 1];
    let restored: RestoreResult;
    let stagingDir: string | null = prefetchDir;
    try {
      progress.stage = 'downloading';
      const dl = await target.downloadChain({ checkpointId: ck.checkpointId, downloadId, ...(prefetch ? { keepPresent: true } : {}) });
      stagingDir = dl.stagingDir;
      progress.stage = 'restoring';
      const r = await target.restoreProcess({ imagesDir: dl.imagesDir });
      restored = restoreResult(ck.checkpointId, to, dl, r, dl.durationMs + r.durationMs);
    } catch (err) {
      progress.stage = 'rolling-back';
      if (stagingDir) await target.cleanStaging({ dir: stagingDir });
      const back = await source.restoreProcess({ imagesDir: finalLayer.imagesDir });
      await source.discardCheckpoint({ checkpointId: ck.checkpointId, deleteStored: false });
      progress.stage = 'failed';
      throw ApplicationFailure.create({
        type: FAILURE_TYPES.migrationFailed,
        message:
          `migrating pid ${pid} from ${from} to ${to} failed on ${to} (${innermostMessage(err)}); the process was ` +
          `restored on ${from} as pid ${back.pid}. Checkpoint ${ck.checkpointId} stays stored; fix ${to} and run ` +
          `\`ferry restore-checkpoint ${ck.checkpointId} --host ${to}\` or migrate again`,
        nonRetryable: true,
        cause: err instanceof Error ? err : undefined,
        details: [{ checkpointId: ck.checkpointId, restoredOn: from, restoredPid: back.pid }],
      });
    }
    progress.stage = 'cleaning';
    await target.cleanStaging({ dir: stagingDir });
    await source.discardCheckpoint({ checkpointId: ck.checkpointId, deleteStored: false });
    progress.stage = 'done';
    return {
      workflowId: workflowInfo().workflowId,
      checkpointId: ck.checkpointId,
      from,
      to,
      pid,
      newPid: restored.pid,
      downtime: downtimeOf(ck, restored.downloadMs, restored.restoreMs, restored.runningAtMs),
      checkpoint: ck,
      prefetch,
      prefetchProblem,
      restore: restored,
      durationMs: Date.now() - startedAt,
    };
  });
}
