/**
 * migrate's prefetch handshake with its checkpoint child. Once the layers stored before the
 * freeze (pre-dumps, warm base layers) are in the store, the checkpoint commits them as an
 * incomplete manifest and signals `layersStored` to its parent; the parent downloads them to the
 * target host while the process still runs and signals `prefetched`; only then does the checkpoint
 * take the final dump. Only the final layer is then left to cross the network inside the downtime.
 */
import {
  condition,
  defineSignal,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  setHandler,
  type ChildWorkflowHandle,
  type ParentWorkflowInfo,
} from '@temporalio/workflow';
import type { LayerRecord } from '../storage/types';
import type { checkpoint } from './checkpoint';
import { innermostMessage } from './failures';
import type { HostActivities } from './host-activities';
import type { MigrateProgress } from './migrate';
import { LAYERS_STORED_SIGNAL, PREFETCHED_SIGNAL } from '../core';
import type { CheckpointProgress, CheckpointResult, LayersStored, PrefetchSummary } from './types';

export const layersStoredSignal = defineSignal<[LayersStored]>(LAYERS_STORED_SIGNAL);
export const prefetchedSignal = defineSignal(PREFETCHED_SIGNAL);

/** The checkpoint's side, set up with its other handlers at start: whether `prefetched` came. */
export function listenForPrefetched(): () => boolean {
  let prefetched = false;
  setHandler(prefetchedSignal, () => {
    prefetched = true;
  });
  return () => prefetched;
}

export interface StoredLayers {
  checkpointId: string;
  /** Records of this checkpoint's stored layers, in chain order. */
  layers: LayerRecord[];
  baseLayers: Array<{ checkpointId: string; index: number }>;
}

export interface PrefetchWait {
  prefetched: () => boolean;
  progress: CheckpointProgress;
  limitMs: number;
}

/** The checkpoint's side: commit what is stored, announce it to the parent, wait for its prefetch. */
export async function announceAndAwaitPrefetch(acts: HostActivities, parent: ParentWorkflowInfo, stored: StoredLayers, wait: PrefetchWait): Promise<void> {
  const { checkpointId, layers, baseLayers } = stored;
  wait.progress.stage = 'awaiting-prefetch';
  await acts.commitCheckpoint({ checkpointId, layers, baseLayers });
  const announcement: LayersStored = {
    checkpointId,
    layers: baseLayers.length + layers.length,
    bytes: layers.reduce((sum, r) => sum + r.bytes, 0),
  };
  await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(layersStoredSignal, announcement);
  // A dump-now request ends the wait too: whoever sent it wants the freeze now.
  await condition(() => wait.prefetched() || wait.progress.dumpNowRequested, wait.limitMs);
}

/** migrate's side, set up before the child starts: the child's announcement once it came. */
export function listenForStoredLayers(): () => LayersStored | null {
  let stored: LayersStored | null = null;
  setHandler(layersStoredSignal, (announcement) => {
    stored = announcement;
  });
  return () => stored;
}

export interface Prefetch {
  /** The target's download dir once the prefetch filled it: the final download adds to it. */
  dir: string | null;
  summary: PrefetchSummary | null;
  /** Why the prefetch failed (the migration goes on without it). */
  problem: string | null;
}

export const NO_PREFETCH: Readonly<Prefetch> = { dir: null, summary: null, problem: null };

export interface PrefetchTarget {
  acts: HostActivities;
  /** The download dir's key on the target, shared with the download after the final dump. */
  downloadId: string;
  progress: MigrateProgress;
}

/**
 * migrate's side: fetches what the checkpoint announces to the target, then lets the checkpoint
 * go on. A checkpoint that stored nothing before the freeze ends without announcing anything.
 */
export async function prefetchStoredLayers(
  child: ChildWorkflowHandle<typeof checkpoint>,
  finished: Promise<CheckpointResult>,
  announced: () => LayersStored | null,
  target: PrefetchTarget,
): Promise<Readonly<Prefetch>> {
  const came = await Promise.race([condition(() => announced() !== null).then(() => true), finished.then(() => false, () => false)]);
  const stored = announced();
  if (!came || stored === null) return NO_PREFETCH;
  target.progress.stage = 'prefetching';
  const prefetch = await fetchToTarget(target, stored.checkpointId);
  target.progress.stage = 'checkpointing';
  // If the checkpoint already ended (it failed, or gave up waiting), `finished` says how.
  await child.signal(prefetchedSignal).catch(() => undefined);
  return prefetch;
}

async function fetchToTarget(target: PrefetchTarget, checkpointId: string): Promise<Prefetch> {
  try {
    const pf = await target.acts.downloadChain({ checkpointId, downloadId: target.downloadId, allowIncomplete: true });
    return { dir: pf.stagingDir, summary: { layers: pf.layersDownloaded, bytes: pf.bytes, durationMs: pf.durationMs }, problem: null };
  } catch (err) {
    if (isCancellation(err)) throw err;
    // Not fatal: the download after the final dump then fetches everything, inside the downtime.
    const problem = innermostMessage(err);
    log.warn('prefetch of the stored layers failed; the whole chain will be downloaded after the final dump', { checkpointId, problem });
    return { ...NO_PREFETCH, problem };
  }
}
