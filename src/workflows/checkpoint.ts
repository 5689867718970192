/**
 * Workflow `checkpoint`: pre-dump a running process while it keeps running, as long as the
 * convergence policy says it pays off, then take the final dump, store every layer and commit the
 * manifest. Every step runs on the process's host; uploads of layer N overlap pre-dump N+1. Once
 * those layers are stored (and, in a migration, fetched by the target), catch-up pre-dumps take
 * what the process dirtied meanwhile, and the final dump follows the last of them at once
 * (catch-up.ts): the freeze holds only what changed while that last pre-dump ran.
 *
 * Safety rules this code keeps:
 * - Until the final dump the process is never stopped: cancel or failure discards the partial
 *   checkpoint (staging and stored layers; no manifest was written, so nothing looks complete).
 * - Once a final dump has stopped the process, its images are the only copy: that part cannot be
 *   cancelled, and if storing fails the process is restored on the host from the local images.
 */
import { CancellationScope, patched, sleep, workflowInfo } from '@temporalio/workflow';
import type { HostCapabilities, LayerDump } from '../activities/types';
import type { ProcessIdentity } from '../criu/types';
import { layerUploaded, trackProgress } from './checkpoint-progress';
import { catchUpUntilConverged, type CatchUpOutcome } from './catch-up';
import { FinalLayersHandOff } from './direct-handoff';
import { normalizePolicy } from './convergence-policy';
import { deadlineOutcome, parseDeadline, planForDeadline, policyForDeadline, type DeadlinePlan, DEFAULT_DEADLINE_RESERVE_MS } from './deadline-plan';
import { ConvergenceTracker } from './convergence-tracker';
import { invalidInput } from './failures';
import { hostActivities, probeHost, type HostActivities } from './host-activities';
import { newCheckpointId, validateCheckpointId, validateCriuOptions, validateHost, validatePid, validatePrefetchWait, validatePrefix } from './input-validation';
import { LayerChain } from './layer-chain';
import { summarize } from './layers';
import { preDumpUntilConverged, requirePreDumpsPossible } from './pre-dump-loop';
import { PrefetchRounds } from './prefetch-handshake';
import { abandonCheckpoint } from './rollback';
import { PATCHES } from '../core';
import type { CheckpointInput, CheckpointProgress, CheckpointResult, FinalLayersReady, PreDumpOutcome } from './types';
import { Uploads } from './uploads';
import { recordChainLength, withOutcomeMetric } from './metrics';

export async function checkpoint(input: CheckpointInput): Promise<CheckpointResult> {
  return withOutcomeMetric('checkpoint', () => runCheckpoint(input), (r) => recordChainLength('checkpoint', r.layers.length));
}

async function runCheckpoint(input: CheckpointInput): Promise<CheckpointResult> {
  const { host, pid, prefix, policy, leaveRunning, prefetchWaitMs, announceTo, checkpointId, criuOptions, deadline } = checkedInput(input);
  const startedAt = Date.now();
  const acts = hostActivities(prefix, host);
  const progress = trackProgress(checkpointId, host, pid);
  if (deadline) {
    progress.deadline = deadline.plan;
    // Once only the reserve is left, the run behaves as if dumpNow had been signalled.
    if (deadline.plan.preDumps) {
      void sleep(deadline.plan.remainingMs - deadline.reserveMs)
        .then(() => {
          progress.dumpNowRequested = true;
        })
        .catch(() => undefined);
    }
  }
  const prefetchRounds = new PrefetchRounds();
  const handOff = input.handOffFinalLayers === true ? new FinalLayersHandOff() : null;
  // Runs started before catch-up rounds and recorded decisions replay the rules they ran with.
  const converging = patched(PATCHES.convergeOnTransfer);

  progress.stage = 'checking-host';
  const caps = await probeHost(acts, prefix, host, progress);
  const tracker = converging ? new ConvergenceTracker(caps.pageSize, announceTo !== undefined, handOff !== null) : null;
  if (tracker) progress.decisions = tracker.decisions;
  const uploads = new Uploads(acts, checkpointId, (r) => {
    layerUploaded(progress, r);
    tracker?.uploaded(r);
  });

  // Outside the try below: a refusal must not discard the checkpoint that holds the id.
  if (input.checkpointId !== undefined && patched(PATCHES.checkpointIdFree)) {
    // The run id owns the claim: a retry of this same step recognises it as its own.
    await acts.assertCheckpointIdFree({ checkpointId, ...(patched(PATCHES.checkpointIdClaim) ? { owner: workflowInfo().runId } : {}) });
  }

  let finalDump: LayerDump | null = null;
  // Once migrate restored the process on the target, these images must never bring it back here.
  let runsElsewhere = false;
  try {
    const identity = await acts.identifyProcess({ pid });
    const chain = new LayerChain(checkpointId, pid, identity, criuOptions);
    requirePreDumpsPossible(policy, caps, host);
    if (input.fromWarm && caps.features.memTrack) chain.buildOn((await acts.readWarmChain({ pid, identity })).chain);

    const preDumps = await preDumpUntilConverged({ acts, host, pid, caps, policy, chain, uploads, progress, tracker });
    progress.preDumps = preDumps;
    // Uploads of pre-dumps finish before the freeze: disk and network contention would otherwise
    // stretch the frozen time, which is what the pre-dumps were for.
    await uploads.drain();

    // In a migration the parent fetches what is stored to the target host while the process still
    // runs: then only the final layer crosses the network inside the downtime.
    const parent = announceTo;
    const prefetch = parent
      ? () =>
          prefetchRounds.announceAndAwait(acts, parent, { checkpointId, layers: uploads.storedRecords(), baseLayers: chain.baseLayers }, { progress, limitMs: prefetchWaitMs })
      : null;
    if (prefetch && (uploads.storedRecords().length > 0 || chain.baseLayers.length > 0)) {
      const fetched = await prefetch();
      if (fetched) tracker?.prefetched(fetched);
    }

    let catchUp: CatchUpOutcome = { count: 0, pending: [], last: null };
    if (tracker && preDumps.available && !tracker.ruledOutPreDumps()) {
      catchUp = await catchUpUntilConverged({ acts, policy, chain, uploads, progress, tracker, prefetch });
    }
    const outcome = withCatchUps(preDumps, catchUp, tracker);
    progress.preDumps = outcome;

    progress.stage = 'final-dump';
    const finalInput = { ...chain.nextLayer(), leaveRunning };
    finalDump = leaveRunning ? await acts.dumpLayer(finalInput) : await CancellationScope.nonCancellable(() => acts.dumpLayer(finalInput));
    const fd: LayerDump = finalDump;
    chain.added(fd);
    progress.layers.push(summarize(fd));
    if (handOff && announceTo && !fd.leftRunning) {
      progress.stage = 'handing-off';
      const offer = finalLayersOffer(checkpointId, progress, fd);
      runsElsewhere = (await CancellationScope.nonCancellable(() => handOff.offer(announceTo, offer))).restoredElsewhere;
    }

    const store = () => storeCheckpoint(acts, uploads, fd, { checkpointId, baseLayers: chain.baseLayers, keepStaging: input.keepStaging, progress, pending: catchUp.pending });
    const timings = leaveRunning ? await store() : await CancellationScope.nonCancellable(store);
    progress.stage = 'done';
    const result = checkpointResult({ progress, identity, caps, outcome, finalDump: fd, baseLayers: chain.baseLayers, ...timings, durationMs: Date.now() - startedAt });
    return deadline ? { ...result, deadline: deadlineOutcome(deadline.plan, Date.now()) } : result;
  } catch (err) {
    throw await abandonCheckpoint(err, { acts, checkpointId, host, pid, uploads, finalDump, progress, runsElsewhere });
  }
}

function checkedInput(input: CheckpointInput) {
  if (typeof input !== 'object' || input === null) throw invalidInput('checkpoint input must be a JSON object');
  const host = validateHost(input.host);
  const pid = validatePid(input.pid);
  const prefix = validatePrefix(input.taskQueuePrefix);
  const asked = normalizePolicy(input.policy);
  if (typeof asked === 'string') throw invalidInput(asked);
  const deadline = checkedDeadline(input);
  const policy = deadline ? policyForDeadline(asked, deadline.plan) : asked;
  const leaveRunning = input.leaveRunning === true;
  const prefetchWaitMs = validatePrefetchWait(input.prefetchWaitLimitMs);
  const parentWorkflow = workflowInfo().parent;
  if (input.announceStoredLayers === true && !parentWorkflow) {
    throw invalidInput('announceStoredLayers is for a checkpoint started by another workflow (migrate); this one has no parent');
  }
  const announceTo = input.announceStoredLayers === true ? parentWorkflow : undefined;
  if (input.handOffFinalLayers === true && !announceTo) throw invalidInput('handOffFinalLayers is for a checkpoint started by migrate with announceStoredLayers');
  const checkpointId = input.checkpointId === undefined ? newCheckpointId(host, pid) : validateCheckpointId(input.checkpointId);
  const criuOptions = validateCriuOptions(input.criuOptions);
  return { host, pid, prefix, policy, leaveRunning, prefetchWaitMs, announceTo, checkpointId, criuOptions, deadline };
}

/** The event's deadline, planned against workflow time at the start (null without one). */
function checkedDeadline(input: CheckpointInput): { plan: DeadlinePlan; reserveMs: number } | null {
  if (input.deadline === undefined) return null;
  const deadlineMs = parseDeadline(input.deadline);
  if (deadlineMs === null) throw invalidInput(`deadline must be an ISO 8601 time with a zone, e.g. 2026-11-29T14:00:00Z, got ${JSON.stringify(input.deadline)}`);
  const reserveMs = input.deadlineReserveMs ?? undefined;
  if (reserveMs !== undefined && (typeof reserveMs !== 'number' || !Number.isInteger(reserveMs) || reserveMs < 0 || reserveMs > 3_600_000)) {
    throw invalidInput(`deadlineReserveMs must be a whole number of milliseconds from 0 to 3600000, got ${JSON.stringify(reserveMs)}`);
  }
  const plan = planForDeadline(deadlineMs, Date.now(), reserveMs);
  return { plan, reserveMs: reserveMs ?? DEFAULT_DEADLINE_RESERVE_MS };
}

/** What migrate's direct path needs: this checkpoint's local layers and the final dump's timing. */
function finalLayersOffer(checkpointId: string, progress: CheckpointProgress, fd: LayerDump): FinalLayersReady {
  return {
    checkpointId,
    layers: progress.layers.map((l) => ({ index: l.index, imagesDir: l.imagesDir })),
    finalDump: { startedAtMs: fd.startedAtMs, durationMs: fd.durationMs, frozenMs: fd.stats.frozenTimeUs / 1000, bytes: fd.bytes },
  };
}

interface Storing {
  checkpointId: string;
  baseLayers: Array<{ checkpointId: string; index: number }>;
  /** Keep the host's local images (migrate restores from them if the target fails). */
  keepStaging: boolean | undefined;
  progress: CheckpointProgress;
  /** Catch-up layers the final dump followed before they were stored. */
  pending: LayerDump[];
}

/** Stores the final layer (and the catch-up layers it followed) and commits the manifest, which is what makes the checkpoint usable. */
async function storeCheckpoint(acts: HostActivities, uploads: Uploads, finalDump: LayerDump, s: Storing) {
  const { checkpointId, progress } = s;
  progress.stage = 'uploading';
  const startedAt = Date.now();
  for (const layer of s.pending) uploads.start(layer);
  const up = await uploads.upload(finalDump);
  await uploads.drain();
  // With pending layers the uploads overlap: the step took as long as the last to finish.
  const uploadMs = s.pending.length > 0 ? Math.max(up.durationMs, Date.now() - startedAt) : up.durationMs;
  progress.stage = 'committing';
  const commit = await acts.commitCheckpoint({ checkpointId, layers: uploads.storedRecords(), baseLayers: s.baseLayers });
  progress.stage = 'cleaning';
  if (!s.keepStaging) await acts.discardCheckpoint({ checkpointId, deleteStored: false });
  return { uploadMs, commitMs: commit.durationMs };
}

/**
 * The pre-dump outcome with the catch-up phase's. When catch-ups ran, the last one's decision is
 * why the final dump came when it did; otherwise the pre-dumps' stop reason still is (the entry
 * decision, e.g. "last layer fresh", stays in `decisions`).
 */
function withCatchUps(preDumps: PreDumpOutcome, catchUp: CatchUpOutcome, tracker: ConvergenceTracker | null): PreDumpOutcome {
  if (!tracker || !preDumps.available) return preDumps;
  const last = catchUp.last;
  if (!last || last.reason === null || catchUp.count === 0) return { ...preDumps, catchUps: catchUp.count };
  return { ...preDumps, catchUps: catchUp.count, stopReason: last.reason, detail: last.detail, predictedDowntimeMs: last.prediction?.totalMs ?? null };
}

interface Finished {
  progress: CheckpointProgress;
  identity: ProcessIdentity;
  caps: HostCapabilities;
  outcome: PreDumpOutcome;
  finalDump: LayerDump;
  baseLayers: Array<{ checkpointId: string; index: number }>;
  uploadMs: number;
  commitMs: number;
  durationMs: number;
}

function checkpointResult(f: Finished): CheckpointResult {
  const { progress, caps, finalDump } = f;
  return {
    checkpointId: progress.checkpointId,
    workflowId: workflowInfo().workflowId,
    host: progress.host,
    pid: progress.pid,
    process: f.identity,
    criuVersion: caps.criuVersion,
    kernel: caps.kernel,
    features: caps.features,
    leftRunning: finalDump.leftRunning,
    layers: progress.layers,
    baseLayers: f.baseLayers,
    preDumps: f.outcome,
    finalDump: {
      startedAtMs: finalDump.startedAtMs,
      frozenMs: finalDump.stats.frozenTimeUs / 1000,
      durationMs: finalDump.durationMs,
      uploadMs: f.uploadMs,
      bytes: finalDump.bytes,
    },
    commitMs: f.commitMs,
    bytesUploaded: progress.bytesUploaded,
    durationMs: f.durationMs,
  };
}
