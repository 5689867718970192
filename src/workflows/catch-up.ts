/**
 * The catch-up phase of a checkpoint (convergence-policy.ts, decision 3). It runs once the layers
 * stored before it have moved (uploaded, and in a migration fetched by the target): the process
 * dirtied pages meanwhile, so the final dump would have to write them while frozen, and in a
 * migration move them inside the downtime. Each catch-up pre-dump takes them while the process
 * runs, and the final dump follows the last round at once, so it holds only what was dirtied while
 * that round ran.
 *
 * In a migration each round is stored and fetched by the target before the next, so rounds shrink
 * as long as the link moves pages faster than the process dirties them; the last round moves with
 * the final layer. A checkpoint moves nothing inside its downtime, so its rounds follow each other
 * at once and all of them are stored after the final dump: nothing competes with the freeze.
 */
import { decideAfterCatchUp, decideCatchUpEntry, type CatchUpRound, type ConvergencePolicy, type DecisionRecord } from './convergence-policy';
import type { ConvergenceTracker } from './convergence-tracker';
import type { HostActivities } from './host-activities';
import type { LayerChain } from './layer-chain';
import { summarize } from './layers';
import type { CheckpointProgress, PrefetchSummary } from './types';
import type { Uploads } from './uploads';
import type { LayerDump } from '../activities/types';

export interface CatchUpPhase {
  acts: HostActivities;
  policy: ConvergencePolicy;
  chain: LayerChain;
  uploads: Uploads;
  progress: CheckpointProgress;
  tracker: ConvergenceTracker;
  /** In a migration: lets the target fetch what is stored now; what it moved, or null. */
  prefetch: (() => Promise<PrefetchSummary | null>) | null;
}

export interface CatchUpOutcome {
  count: number;
  /** Catch-up layers dumped but not stored yet: they are stored with the final layer. */
  pending: LayerDump[];
  /** The decision that ended the phase (null when there was nothing to catch up on). */
  last: DecisionRecord | null;
}

export async function catchUpUntilConverged(p: CatchUpPhase): Promise<CatchUpOutcome> {
  const { acts, policy, chain, uploads, progress, tracker } = p;
  if (chain.lastIndex === null || chain.lastTakenAtMs === null) return { count: 0, pending: [], last: null };
  // Workflow time against the host's clock of the last layer: as exact as the clocks' sync.
  const sinceLastLayerMs = Math.max(0, Date.now() - chain.lastTakenAtMs);
  const entry = tracker.note(decideCatchUpEntry(policy, tracker.rates(), { ...tracker.shape(progress.dumpNowRequested), lastLayer: chain.lastIndex, sinceLastLayerMs }));
  if (entry.next === 'final-dump') return { count: 0, pending: [], last: entry };

  const rounds: CatchUpRound[] = [];
  const pending: LayerDump[] = [];
  for (;;) {
    progress.stage = 'catching-up';
    const dump = await acts.preDumpLayer(chain.nextLayer());
    chain.added(dump);
    tracker.layerDumped(dump);
    progress.layers.push(summarize(dump));
    rounds.push({ layer: dump.index, pagesWritten: dump.stats.pagesWritten, bytes: dump.bytes, durationMs: dump.durationMs });
    const decision = tracker.note(decideAfterCatchUp(policy, tracker.rates(), { ...tracker.shape(progress.dumpNowRequested), rounds }));
    if (!p.prefetch || decision.next === 'final-dump') pending.push(dump);
    if (decision.next === 'final-dump') return { count: rounds.length, pending, last: decision };
    if (p.prefetch) {
      progress.stage = 'uploading';
      await uploads.upload(dump);
      const fetched = await p.prefetch();
      if (fetched) tracker.prefetched(fetched);
    }
  }
}
