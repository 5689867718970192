/**
 * What a running checkpoint shows through its `progress` query, and the `dumpNow` signal that
 * ends its pre-dumps early.
 */
import { defineQuery, defineSignal, setHandler } from '@temporalio/workflow';
import type { UploadResult } from '../activities/types';
import { DUMP_NOW_SIGNAL, PROGRESS_QUERY } from '../core';
import type { CheckpointProgress } from './types';

export const progressQuery = defineQuery<CheckpointProgress>(PROGRESS_QUERY);
export const dumpNowSignal = defineSignal(DUMP_NOW_SIGNAL);

/** The progress the query answers with from now on; a dump-now request is noted in it. */
export function trackProgress(checkpointId: string, host: string, pid: number): CheckpointProgress {
  const progress: CheckpointProgress = {
    stage: 'starting',
    checkpointId,
    host,
    pid,
    layers: [],
    bytesUploaded: 0,
    dumpNowRequested: false,
    preDumps: null,
  };
  setHandler(progressQuery, () => progress);
  setHandler(dumpNowSignal, () => {
    progress.dumpNowRequested = true;
  });
  return progress;
}

export function layerUploaded(progress: CheckpointProgress, r: UploadResult): void {
  const layer = progress.layers.find((l) => l.index === r.index);
  if (layer) {
    layer.uploaded = true;
    layer.uploadMs = r.durationMs;
  }
  progress.bytesUploaded += r.bytes;
}
