/**
 * The pre-dump phase of a checkpoint: dump the running process's memory again and again, each
 * layer incremental to the last, until the convergence policy says the final dump pays off now.
 * Each layer's upload starts at once and overlaps the next pre-dump.
 */
import type { HostCapabilities } from '../activities/types';
import { decide, type ConvergencePolicy, type PreDumpObservation } from './convergence-policy';
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
  caps: HostCapabilities;
  policy: ConvergencePolicy;
  chain: LayerChain;
  uploads: Uploads;
  progress: CheckpointProgress;
}

/** Refuses up front, before anything is dumped, a policy that needs pre-dumps on a host that cannot take them. */
export function requirePreDumpsPossible(policy: ConvergencePolicy, caps: HostCapabilities, host: string): void {
  if (caps.features.memTrack || !policy.requirePreDumps) return;
  throw toFailure(new PreDumpsUnavailable(host, caps.kernel), { host, kernel: caps.kernel });
}

/** Takes the pre-dumps the policy asks for and says why it stopped. */
export async function preDumpUntilConverged(phase: PreDumpPhase): Promise<PreDumpOutcome> {
  const { acts, caps, policy, chain, uploads, progress } = phase;
  const warmLayers = chain.baseLayers.length;
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
  if (policy.maxPreDumps === 0) {
    return { available: true, count: 0, warmLayers, stopReason: 'disabled-by-policy', detail: 'policy.maxPreDumps is 0', predictedDowntimeMs: null };
  }
  progress.stage = 'pre-dumping';
  const observations: PreDumpObservation[] = [];
  for (;;) {
    const decision = decide(policy, observations, { dumpNowRequested: progress.dumpNowRequested, pageSize: caps.pageSize });
    if (decision.action === 'dump') {
      const { reason: stopReason, detail, predictedDowntimeMs } = decision;
      return { available: true, count: observations.length, warmLayers, stopReason, detail, predictedDowntimeMs };
    }
    const dump = await acts.preDumpLayer(chain.nextLayer());
    chain.added(dump);
    progress.layers.push(summarize(dump));
    observations.push({ pagesWritten: dump.stats.pagesWritten, memdumpTimeUs: dump.stats.memdumpTimeUs });
    uploads.start(dump);
    uploads.throwIfFailed();
  }
}
