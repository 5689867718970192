/**
 * What a failed checkpoint or migration leaves behind. Until the final dump the process runs on:
 * the partial checkpoint is discarded. After it the images on the source host are the only copy
 * of the process: it is restored there from them, so a failure never loses the process.
 */
import { ApplicationFailure, CancellationScope, CancelledFailure, isCancellation } from '@temporalio/workflow';
import type { DiscardInput, LayerDump } from '../activities/types';
import { CheckpointFailed, MigrationFailed, innermostMessage } from '../core';
import { toFailure } from './failures';
import type { HostActivities } from './host-activities';
import type { CheckpointedMigration } from './migrate';
import type { CheckpointProgress } from './types';
import type { Uploads } from './uploads';

export interface FailedCheckpoint {
  acts: HostActivities;
  checkpointId: string;
  host: string;
  pid: number;
  uploads: Uploads;
  /** The final dump, once taken. */
  finalDump: LayerDump | null;
  progress: CheckpointProgress;
  /** migrate restored the process on another host from these layers: never restore it here too. */
  runsElsewhere?: boolean;
}

/** Cleans up after a checkpoint failed or was cancelled; returns the failure to end it with. */
export async function abandonCheckpoint(err: unknown, failed: FailedCheckpoint): Promise<unknown> {
  // A step may fail for its own reasons while a cancel is under way: the cancel is the outcome.
  const cancelled = isCancellation(err) || CancellationScope.current().consideredCancelled;
  const { acts, checkpointId, host, finalDump, progress } = failed;
  const rolledBack = await CancellationScope.nonCancellable(async () => {
    await failed.uploads.settle();
    if (finalDump && !finalDump.leftRunning && !failed.runsElsewhere) {
      // The process was stopped by the final dump and storing it failed: bring it back here.
      progress.stage = 'rolling-back';
      const pid = await restoreFromLocalImages(acts, finalDump.imagesDir, { checkpointId, deleteStored: true });
      progress.stage = 'failed';
      return toFailure(new CheckpointFailed(checkpointId, failed.pid, host, innermostMessage(err), pid, { cause: err }), {
        checkpointId,
        host,
        restoredPid: pid,
      });
    }
    await acts.discardCheckpoint({ checkpointId, deleteStored: true });
    return null;
  });
  if (rolledBack) return rolledBack;
  progress.stage = cancelled ? 'cancelled' : 'failed';
  if (cancelled && !isCancellation(err)) return new CancelledFailure(`checkpoint ${checkpointId} cancelled; the process keeps running`);
  return err;
}

export interface FailedMigration extends CheckpointedMigration {
  /** The target's download dir, if a download started filling it. */
  stagingDir: string | null;
}

/**
 * Brings the process back on the source host after the migration failed on the target; returns
 * the failure to end the migration with. The checkpoint stays stored, so it can be restored later.
 */
export async function rollBackMigration(err: unknown, m: FailedMigration): Promise<ApplicationFailure> {
  const { checkpointId, layers } = m.ck;
  m.progress.stage = 'rolling-back';
  if (m.stagingDir) await m.target.cleanStaging({ dir: m.stagingDir });
  // The final dump's images, still on the source host (the checkpoint ran with keepStaging).
  const finalLayer = layers[layers.length - 1];
  const pid = await restoreFromLocalImages(m.source, finalLayer.imagesDir, { checkpointId, deleteStored: false });
  m.progress.stage = 'failed';
  return toFailure(new MigrationFailed(checkpointId, m.pid, m.from, m.to, innermostMessage(err), pid, { cause: err }), {
    checkpointId,
    restoredOn: m.from,
    restoredPid: pid,
  });
}

/** Restores on its own host a process a final dump stopped, then drops the host's local images. */
async function restoreFromLocalImages(acts: HostActivities, imagesDir: string, discard: DiscardInput): Promise<number> {
  const back = await acts.restoreProcess({ imagesDir });
  await acts.discardCheckpoint(discard);
  return back.pid;
}
