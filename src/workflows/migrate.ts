/**
 * Workflow `migrate`: checkpoint a process on host A (pre-dumps while it runs, then the final
 * dump stops it), restore it on host B, and report the downtime (freeze on A to running on B)
 * with its parts. Layers stored before the freeze (pre-dumps, warm base layers) are fetched to B
 * while the process still runs on A, so only the final layer moves inside the downtime. If
 * anything fails after the process stopped on A, it is restored on A from A's local images, so a
 * failed migration never loses the process.
 */
import {
  CancellationScope,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  patched,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { checkpoint } from './checkpoint';
import { CheckpointInProgress } from '../core';
import { invalidInput, toFailure } from './failures';
import { hostActivities, probeHost, type HostActivities } from './host-activities';
import { validateCheckpointId, validateHost, validatePid, validatePrefix } from './input-validation';
import { DUMP_NOW_SIGNAL, PATCHES, PROGRESS_QUERY, processWorkflowId, workflowTaskQueue } from '../core';
import { NO_PREFETCH, listenForStoredLayers, prefetchStoredLayers, type Prefetch } from './prefetch-handshake';
import { restoreResult } from './restore';
import { rollBackMigration } from './rollback';
import type { CheckpointInput, CheckpointResult, DowntimeBreakdown, MigrateInput, MigrateResult, RestoreResult } from './types';

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
  const { from, to, pid, prefix } = checkedInput(input);
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
  const announced = listenForStoredLayers();
  let prefetch = NO_PREFETCH;
  let ck: CheckpointResult;
  try {
    checkpointRunning = true;
    const child = await startChild(checkpoint, {
      workflowId: checkpointWorkflowId,
      taskQueue: workflowTaskQueue(prefix),
      args: [checkpointInput(input, { from, pid, prefix, prefetchEnabled })],
    });
    const finished = child.result();
    if (prefetchEnabled) prefetch = await prefetchStoredLayers(child, finished, announced, { acts: target, downloadId, progress });
    ck = await finished;
  } catch (err) {
    progress.stage = 'failed';
    const dir = prefetch.dir;
    if (dir !== null) await CancellationScope.nonCancellable(() => target.cleanStaging({ dir }));
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw toFailure(new CheckpointInProgress(pid, from, checkpointWorkflowId));
    }
    throw err;
  } finally {
    checkpointRunning = false;
  }

  // From here the process exists only as images: finish (or roll back) whatever happens.
  return await CancellationScope.nonCancellable(async () => {
    const moved = { source, target, from, to, pid, ck, downloadId, prefetch, progress };
    const { restored, stagingDir } = await restoreOnTarget(moved);
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
      prefetch: prefetch.summary,
      prefetchProblem: prefetch.problem,
      restore: restored,
      durationMs: Date.now() - startedAt,
    };
  });
}

function checkedInput(input: MigrateInput) {
  if (typeof input !== 'object' || input === null) throw invalidInput('migrate input must be a JSON object');
  const from = validateHost(input.from, 'from');
  const to = validateHost(input.to, 'to');
  const pid = validatePid(input.pid);
  const prefix = validatePrefix(input.taskQueuePrefix);
  if (input.checkpointId !== undefined) validateCheckpointId(input.checkpointId);
  if (from === to) throw invalidInput(`from and to are both ${JSON.stringify(from)}; a migration needs two different hosts`);
  return { from, to, pid, prefix };
}

function checkpointInput(input: MigrateInput, c: { from: string; pid: number; prefix: string; prefetchEnabled: boolean }): CheckpointInput {
  return {
    host: c.from,
    pid: c.pid,
    policy: input.policy,
    // A warm chain (nightly pre-dumps) is used when there is one, unless turned off.
    fromWarm: input.fromWarm !== false,
    checkpointId: input.checkpointId,
    leaveRunning: false,
    keepStaging: true,
    taskQueuePrefix: c.prefix,
    ...(c.prefetchEnabled ? { announceStoredLayers: true } : {}),
  };
}

/** A migration whose checkpoint finished: from now on the process exists only as images. */
export interface CheckpointedMigration {
  source: HostActivities;
  target: HostActivities;
  from: string;
  to: string;
  pid: number;
  ck: CheckpointResult;
  progress: MigrateProgress;
}

interface Moving extends CheckpointedMigration {
  downloadId: string;
  prefetch: Readonly<Prefetch>;
}

/** Downloads the checkpoint to the target and restores it there; rolls back to the source if that fails. */
async function restoreOnTarget(m: Moving): Promise<{ restored: RestoreResult; stagingDir: string }> {
  const { target, ck, progress } = m;
  let stagingDir: string | null = m.prefetch.dir;
  try {
    progress.stage = 'downloading';
    const dl = await target.downloadChain({ checkpointId: ck.checkpointId, downloadId: m.downloadId, ...(m.prefetch.summary ? { keepPresent: true } : {}) });
    stagingDir = dl.stagingDir;
    progress.stage = 'restoring';
    const r = await target.restoreProcess({ imagesDir: dl.imagesDir });
    return { restored: restoreResult(ck.checkpointId, m.to, dl, r, dl.durationMs + r.durationMs), stagingDir };
  } catch (err) {
    throw await rollBackMigration(err, { ...m, stagingDir });
  }
}
