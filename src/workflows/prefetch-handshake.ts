/**
 * migrate's prefetch handshake with its checkpoint child. Once the layers stored before the
 * freeze (pre-dumps, warm base layers) are in the store, the checkpoint commits them as an
 * incomplete manifest and signals `layersStored` to its parent; the parent downloads them to the
 * target host while the process still runs and signals `prefetched`; only then does the checkpoint
 * take the final dump. Only the final layer is then left to cross the network inside the downtime.
 *
 * Catch-up rounds (catch-up.ts) repeat the handshake: each stored catch-up pre-dump is announced
 * with the next round number and fetched by the target before the next round; `prefetched` carries
 * what that fetch moved and how long it took, which is the transfer rate the next decision uses.
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
import type { CheckpointProgress, LayersStored, PrefetchSummary } from './types';

export const layersStoredSignal = defineSignal<[LayersStored]>(LAYERS_STORED_SIGNAL);
/** The summary is absent when the target's fetch failed, and in runs from before catch-up rounds. */
export const prefetchedSignal = defineSignal<[PrefetchSummary?]>(PREFETCHED_SIGNAL);

/** The checkpoint's side of the rounds, set up with its other handlers at start. */
export class PrefetchRounds {
  private announced = 0;
  private readonly acks: Array<PrefetchSummary | null> = [];

  constructor() {
    setHandler(prefetchedSignal, (summary) => {
      this.acks.push(summary ?? null);
    });
  }

  /**
   * Commits what is stored, announces it to the parent as the next round and waits for the
   * target's fetch. Returns what the fetch moved, or null if it failed or did not come in time.
   */
  async announceAndAwait(acts: HostActivities, parent: ParentWorkflowInfo, stored: StoredLayers, wait: PrefetchWait): Promise<PrefetchSummary | null> {
    const { checkpointId, layers, baseLayers } = stored;
    const round = ++this.announced;
    wait.progress.stage = 'awaiting-prefetch';
    await acts.commitCheckpoint({ checkpointId, layers, baseLayers });
    const announcement: LayersStored = {
      checkpointId,
      layers: baseLayers.length + layers.length,
      bytes: layers.reduce((sum, r) => sum + r.bytes, 0),
      round,
    };
    await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(layersStoredSignal, announcement);
    // A dump-now request ends the wait too: whoever sent it wants the freeze now.
    await condition(() => this.acks.length >= round || wait.progress.dumpNowRequested, wait.limitMs);
    return this.acks[round - 1] ?? null;
  }
}

export interface StoredLayers {
  checkpointId: string;
  /** Records of this checkpoint's stored layers, in chain order. */
  layers: LayerRecord[];
  baseLayers: Array<{ checkpointId: string; index: number }>;
}

export interface PrefetchWait {
  progress: CheckpointProgress;
  limitMs: number;
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

/** Announcements count from 1; runs from before catch-up rounds sent one, without a number. */
const roundOf = (a: LayersStored | null): number => (a === null ? 0 : a.round ?? 1);

/**
 * migrate's side: fetches each round the checkpoint announces to the target, then lets the
 * checkpoint go on, until the checkpoint ends (or, on the direct path, offers its final layers:
 * `finished` then settles on that). A checkpoint that stored nothing before the freeze
 * ends without announcing anything. After a failed fetch the later rounds are acknowledged
 * unfetched: the download after the final dump then fetches what is missing.
 */
export async function prefetchStoredLayers(
  child: ChildWorkflowHandle<typeof checkpoint>,
  finished: Promise<unknown>,
  announced: () => LayersStored | null,
  target: PrefetchTarget,
): Promise<Readonly<Prefetch>> {
  let handled = 0;
  let total: Prefetch = NO_PREFETCH;
  for (;;) {
    const next = handled + 1;
    const came = await Promise.race([condition(() => roundOf(announced()) >= next).then(() => true), finished.then(() => false, () => false)]);
    const stored = announced();
    if (!came || stored === null) return total;
    handled = roundOf(stored);
    let round: Prefetch | null = null;
    if (total.problem === null) {
      target.progress.stage = 'prefetching';
      round = await fetchToTarget(target, stored.checkpointId, total.summary !== null);
      target.progress.stage = 'checkpointing';
      total = merged(total, round);
    }
    // If the checkpoint already ended (it failed, or gave up waiting), `finished` says how.
    await child.signal(prefetchedSignal, round?.summary ?? undefined).catch(() => undefined);
  }
}

function merged(before: Prefetch, round: Prefetch): Prefetch {
  if (before.summary === null) return round;
  const s = round.summary;
  const summary = s ? { layers: before.summary.layers + s.layers, bytes: before.summary.bytes + s.bytes, durationMs: before.summary.durationMs + s.durationMs } : before.summary;
  return { dir: round.dir ?? before.dir, summary, problem: round.problem };
}

async function fetchToTarget(target: PrefetchTarget, checkpointId: string, keepPresent: boolean): Promise<Prefetch> {
  try {
    const pf = await target.acts.downloadChain({ checkpointId, downloadId: target.downloadId, allowIncomplete: true, ...(keepPresent ? { keepPresent: true } : {}) });
    return { dir: pf.stagingDir, summary: { layers: pf.layersDownloaded, bytes: pf.bytes, durationMs: pf.durationMs }, problem: null };
  } catch (err) {
    if (isCancellation(err)) throw err;
    // Not fatal: the download after the final dump then fetches everything, inside the downtime.
    const problem = innermostMessage(err);
    log.warn('prefetch of the stored layers failed; the whole chain will be downloaded after the final dump', { checkpointId, problem });
    return { ...NO_PREFETCH, problem };
  }
}
