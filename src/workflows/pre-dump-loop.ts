/**
 * The pre-dump phase of a checkpoint: dump the running process's memory again and again, each
 * layer incremental to the last, until the convergence policy says to stop. Each layer's upload
 * starts at once and overlaps the next pre-dump. With a tracker (runs that converge on transfer),
 * the process's size is checked first and every decision is recorded with its numbers.
 */
import type { HostCapabilities } from '../activities/types';
import { decide, decideStart, type ConvergencePolicy, type PreDumpObservation } from './convergence-policy';
import type { ConvergenceTracker } from './convergence-tracker';
import { predictDowntime } from './downtime-model';
import type { HostActivities } from './host-activities';
import type { LayerChain } from './layer-chain';
import { summarize } from './layers';
import { PreDumpsUnavailable } from '../core';
import { toFailure } from './failures';
import type { CheckpointProgress, PreDumpOutcome } from './types';
import type { Uploads } from './uploads';

export interface PreDumpPhase {
  acts: HostActivities;
  host: string;
  pid: number;
  caps: HostCapabilities;
  policy: ConvergencePolicy;
  chain: LayerChain;
  uploads: Uploads;
  progress: CheckpointProgress;
  /** null for runs started before decisions were recorded (they replay the old rules). */
  tracker: ConvergenceTracker | null;
}

/** Refuses up front, before anything is dumped, a policy that needs pre-dumps on a host that cannot take them. */
export function requirePreDumpsPossible(policy: ConvergencePolicy, caps: HostCapabilities, host: string): void {
  if (caps.features.memTrack || !policy.requirePreDumps) return;
  throw toFailure(new PreDumpsUnavailable(host, caps.kernel), { host, kernel: caps.kernel });
}

/** Takes the pre-dumps the policy asks for and says why it stopped. */
export async function preDumpUntilConverged(phase: PreDumpPhase): Promise<PreDumpOutcome> {
  const { acts, caps, policy, chain, uploads, progress, tracker } = phase;
  const warmLayers = chain.baseLayers.length;
  const outcome = (o: Omit<PreDumpOutcome, 'available' | 'warmLayers'>): PreDumpOutcome => ({
    available: true,
    warmLayers,
    ...o,
    ...(tracker ? { residentBytes: tracker.residentBytes, decisions: tracker.decisions } : {}),
  });
  if (!caps.features.memTrack) {
    return {
      available: false,
      count: 0,
      warmLayers: 0,
      stopReason: 'kernel-cannot-track',
      detail:
        `host ${phase.host} runs kernel ${caps.kernel} without soft-dirty memory tracking, so pre-dumps are impossible; ` +
        'took a single full dump (the process is frozen for all of it)',
      predictedDowntimeMs: null,
    };
  }
  if (tracker) {
    tracker.processMeasured(await acts.measureProcess({ pid: phase.pid }));
    const start = tracker.note(decideStart(policy, tracker.rates(), tracker.shape(progress.dumpNowRequested)));
    if (start.next === 'final-dump') {
      return outcome({ count: 0, stopReason: start.reason ?? 'too-small', detail: start.detail, predictedDowntimeMs: start.prediction?.totalMs ?? null });
    }
  }
  if (policy.maxPreDumps === 0) {
    return outcome({ count: 0, stopReason: 'disabled-by-policy', detail: 'policy.maxPreDumps is 0', predictedDowntimeMs: null });
  }
  progress.stage = 'pre-dumping';
  const observations: PreDumpObservation[] = [];
  for (;;) {
    const predicted = tracker && observations.length > 0 ? predictAfterPreDump(tracker, observations[observations.length - 1].pagesWritten) : undefined;
    const decision = decide(policy, observations, { dumpNowRequested: progress.dumpNowRequested, pageSize: caps.pageSize, predictedDowntimeMs: predicted?.totalMs });
    if (decision.action === 'dump') {
      const { reason: stopReason, detail, predictedDowntimeMs } = decision;
      tracker?.note({ at: 'pre-dump', afterLayer: chain.lastIndex, next: 'move-stored-layers', reason: stopReason, detail, prediction: predicted ?? null, rates: tracker.report() });
      return outcome({ count: observations.length, stopReason, detail, predictedDowntimeMs });
    }
    if (tracker && observations.length > 0) {
      tracker.note({ at: 'pre-dump', afterLayer: chain.lastIndex, next: 'pre-dump', reason: null, detail: 'the dirty set is still shrinking', prediction: predicted ?? null, rates: tracker.report() });
    }
    const dump = await acts.preDumpLayer(chain.nextLayer());
    chain.added(dump);
    tracker?.layerDumped(dump);
    progress.layers.push(summarize(dump));
    observations.push({ pagesWritten: dump.stats.pagesWritten, memdumpTimeUs: dump.stats.memdumpTimeUs });
    uploads.start(dump);
    uploads.throwIfFailed();
  }
}

/** Downtime if the final dump followed at once and wrote as many pages as the last pre-dump. */
function predictAfterPreDump(tracker: ConvergenceTracker, lastPages: number) {
  const shape = tracker.shape(false);
  return predictDowntime(tracker.rates(), shape.pageSize, { finalPages: lastPages, pendingBytes: 0, moving: shape.moving });
}
