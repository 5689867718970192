/**
 * Workflow `checkpoint`: pre-dump a running process while it keeps running, as long as the
 * convergence policy says it pays off, then take the final dump, store every layer and commit the
 * manifest. Every step runs on the process's host; uploads of layer N overlap pre-dump N+1.
 *
 * Safety rules this code keeps:
 * - Until the final dump the process is never stopped: cancel or failure discards the partial
 *   checkpoint (staging and stored layers; no manifest was written, so nothing looks complete).
 * - Once a final dump has stopped the process, its images are the only copy: that part cannot be
 *   cancelled, and if storing fails the process is restored on the host from the local images.
 */
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  isCancellation,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { LayerDump, LayerRef, UploadResult, WarmChain } from '../activities/types';
import type { LayerRecord } from '../storage/types';
import type { ProcessIdentity } from '../criu/types';
import { decide, normalizePolicy, type ConvergencePolicy, type PreDumpObservation } from './convergence-policy';
import { innermostMessage, invalidInput } from './failures';
import { hostActivities, probeHost, type HostActivities } from './host-activities';
import { newCheckpointId, validateCheckpointId, validateHost, validatePid, validatePrefetchWait, validatePrefix } from './input-validation';
import { DUMP_NOW_SIGNAL, FAILURE_TYPES, LAYERS_STORED_SIGNAL, PREFETCHED_SIGNAL, PROGRESS_QUERY } from './names';
import { parentRef, summarize } from './layers';
import type { CheckpointInput, CheckpointProgress, CheckpointResult, LayersStored, PreDumpOutcome } from './types';

export const progressQuery = defineQuery<CheckpointProgress>(PROGRESS_QUERY);
export const dumpNowSignal = defineSignal(DUMP_NOW_SIGNAL);
export const layersStoredSignal = defineSignal<[LayersStored]>(LAYERS_STORED_SIGNAL);
export const prefetchedSignal = defineSignal(PREFETCHED_SIGNAL);

/** Tracks uploads running in the background so a failure is seen at the next step, not lost. */
class Uploads {
  private pending: Array<Promise<void>> = [];
  private firstError: unknown = null;

  constructor(
    private readonly acts: HostActivities,
    private readonly checkpointId: string,
    private readonly onDone: (r: UploadResult) => void,
  ) {}

  start(layer: LayerDump): void {
    const p = this.acts.uploadLayer({ checkpointId: this.checkpointId, layer }).then(
      (r) => this.onDone(r),
      (err: unknown) => {
        this.firstError ??= err;
      },
    );
    this.pending.push(p);
  }

  throwIfFailed(): void {
    if (this.firstError !== null) throw this.firstError;
  }

  async drain(): Promise<void> {
    await Promise.all(this.pending);
    this.throwIfFailed();
  }

  /** Waits for in-flight uploads without caring how they end (used before discarding). */
  async settle(): Promise<void> {
    await Promise.all(this.pending);
  }
}

export async function checkpoint(input: CheckpointInput): Promise<CheckpointResult> {
  if (typeof input !== 'object' || input === null) throw invalidInput('checkpoint input must be a JSON object');
  const host = validateHost(input.host);
  const pid = validatePid(input.pid);
  const prefix = validatePrefix(input.taskQueuePrefix);
  const policyOrProblem = normalizePolicy(input.policy);
  if (typeof policyOrProblem === 'string') throw invalidInput(policyOrProblem);
  const policy: ConvergencePolicy = policyOrProblem;
  const leaveRunning = input.leaveRunning === true;
  const prefetchWaitMs = validatePrefetchWait(input.prefetchWaitLimitMs);
  const parentWorkflow = workflowInfo().parent;
  if (input.announceStoredLayers === true && !parentWorkflow) {
    throw invalidInput('announceStoredLayers is for a checkpoint started by another workflow (migrate); this one has no parent');
  }
  const checkpointId = input.checkpointId === undefined ? newCheckpointId(host, pid) : validateCheckpointId(input.checkpointId);
  const startedAt = Date.now();
  const acts = hostActivities(prefix, host);

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
  let prefetched = false;
  setHandler(prefetchedSignal, () => {
    prefetched = true;
  });

  const layerSummary = (index: number) => progress.layers.find((l) => l.index === index);
  const records: LayerRecord[] = [];
  const recordUpload = (r: UploadResult) => {
    const l = layerSummary(r.index);
    if (l) {
      l.uploaded = true;
      l.uploadMs = r.durationMs;
    }
    records.push(r.record);
    progress.bytesUploaded += r.bytes;
  };
  const uploads = new Uploads(acts, checkpointId, recordUpload);

  progress.stage = 'checking-host';
  const caps = await probeHost(acts, prefix, host, progress);

  let finalDump: LayerDump | null = null;
  try {
    const identity: ProcessIdentity = await acts.identifyProcess({ pid });
    const dumps: LayerDump[] = [];
    let parent: LayerRef | null = null;
    // Positions in the chain are global: a checkpoint on a warm chain of N layers starts at N.
    let baseLayers: Array<{ checkpointId: string; index: number }> = [];
    let warm: WarmChain | null = null;

    const canTrack = caps.features.memTrack;
    if (!canTrack && policy.requirePreDumps) {
      throw ApplicationFailure.create({
        type: FAILURE_TYPES.preDumpsUnavailable,
        message:
          `the policy requires pre-dumps, but the kernel of host ${host} (${caps.kernel}) cannot track dirty memory ` +
          '(no soft-dirty, CONFIG_MEM_SOFT_DIRTY); nothing was dumped and the process keeps running. ' +
          'Run on a kernel with soft-dirty, or drop requirePreDumps to take a single full dump',
        nonRetryable: true,
        details: [{ host, kernel: caps.kernel }],
      });
    }
    if (input.fromWarm && canTrack) {
      warm = (await acts.readWarmChain({ pid, identity })).chain;
      if (warm && warm.layers.length > 0) {
        const last = warm.layers[warm.layers.length - 1];
        parent = parentRef(last);
        baseLayers = warm.layers.map((l) => ({ checkpointId: warm!.checkpointId, index: l.index }));
      }
    }

    let outcome: PreDumpOutcome;
    if (!canTrack) {
      outcome = {
        available: false,
        count: 0,
        warmLayers: 0,
        stopReason: 'kernel-cannot-track',
        detail:
          `host ${host} runs kernel ${caps.kernel} without soft-dirty memory tracking, so pre-dumps are impossible; ` +
          'took a single full dump (the process is frozen for all of it)',
        predictedDowntimeMs: null,
      };
    } else if (policy.maxPreDumps === 0) {
      outcome = {
        available: true,
        count: 0,
        warmLayers: baseLayers.length,
        stopReason: 'disabled-by-policy',
        detail: 'policy.maxPreDumps is 0',
        predictedDowntimeMs: null,
      };
    } else {
      progress.stage = 'pre-dumping';
      const observations: PreDumpObservation[] = [];
      for (;;) {
        const decision = decide(policy, observations, { dumpNowRequested: progress.dumpNowRequested, pageSize: caps.pageSize });
        if (decision.action === 'dump') {
          outcome = {
            available: true,
            count: observations.length,
            warmLayers: baseLayers.length,
            stopReason: decision.reason,
            detail: decision.detail,
            predictedDowntimeMs: decision.predictedDowntimeMs,
          };
          break;
        }
        const dump: LayerDump = await acts.preDumpLayer({ checkpointId, index: baseLayers.length + dumps.length, pid, expectedIdentity: identity, parent });
        dumps.push(dump);
        progress.layers.push(summarize(dump));
        observations.push({ pagesWritten: dump.stats.pagesWritten, memdumpTimeUs: dump.stats.memdumpTimeUs });
        parent = parentRef(dump);
        uploads.start(dump);
        uploads.throwIfFailed();
      }
    }
    progress.preDumps = outcome;

    // Uploads of pre-dumps finish before the freeze: disk and network contention would otherwise
    // stretch the frozen time, which is what the pre-dumps were for.
    await uploads.drain();

    if (input.announceStoredLayers === true && parentWorkflow && (records.length > 0 || baseLayers.length > 0)) {
      // Let the parent (migrate) fetch what is stored to the target host while the process still
      // runs: then only the final layer crosses the network inside the downtime.
      progress.stage = 'awaiting-prefetch';
      const stored = [...records].sort((a, b) => a.index - b.index);
      await acts.commitCheckpoint({ checkpointId, layers: stored, baseLayers });
      const announcement: LayersStored = {
        checkpointId,
        layers: baseLayers.length + stored.length,
        bytes: stored.reduce((sum, r) => sum + r.bytes, 0),
      };
      await getExternalWorkflowHandle(parentWorkflow.workflowId, parentWorkflow.runId).signal(layersStoredSignal, announcement);
      // A dump-now request ends the wait too: whoever sent it wants the freeze now.
      await condition(() => prefetched || progress.dumpNowRequested, prefetchWaitMs);
    }

    progress.stage = 'final-dump';
    const finalInput = { checkpointId, index: baseLayers.length + dumps.length, pid, expectedIdentity: identity, parent, leaveRunning };
    if (leaveRunning) {
      finalDump = await acts.dumpLayer(finalInput);
    } else {
      finalDump = await CancellationScope.nonCancellable(() => acts.dumpLayer(finalInput));
    }
    const fd: LayerDump = finalDump;
    dumps.push(fd);
    progress.layers.push(summarize(fd));

    const store = async () => {
      progress.stage = 'uploading';
      const up = await acts.uploadLayer({ checkpointId, layer: fd });
      recordUpload(up);
      progress.stage = 'committing';
      const layers = [...records].sort((a, b) => a.index - b.index);
      const commit = await acts.commitCheckpoint({ checkpointId, layers, baseLayers });
      progress.stage = 'cleaning';
      if (!input.keepStaging) await acts.discardCheckpoint({ checkpointId, deleteStored: false });
      return { uploadMs: up.durationMs, commitMs: commit.durationMs };
    };
    const stored = leaveRunning ? await store() : await CancellationScope.nonCancellable(store);

    progress.stage = 'done';
    return {
      checkpointId,
      workflowId: workflowInfo().workflowId,
      host,
      pid,
      process: identity,
      criuVersion: caps.criuVersion,
      kernel: caps.kernel,
      features: caps.features,
      leftRunning: fd.leftRunning,
      layers: progress.layers,
      baseLayers,
      preDumps: outcome,
      finalDump: {
        startedAtMs: fd.startedAtMs,
        frozenMs: fd.stats.frozenTimeUs / 1000,
        durationMs: fd.durationMs,
        uploadMs: stored.uploadMs,
        bytes: fd.bytes,
      },
      commitMs: stored.commitMs,
      bytesUploaded: progress.bytesUploaded,
      durationMs: Date.now() - startedAt,
    };
  } catch (err) {
    // A step may fail for its own reasons while a cancel is under way: the cancel is the outcome.
    const cancelled = isCancellation(err) || CancellationScope.current().consideredCancelled;
    await CancellationScope.nonCancellable(async () => {
      await uploads.settle();
      if (finalDump && !finalDump.leftRunning) {
        // The process was stopped by the final dump and storing it failed: bring it back here.
        progress.stage = 'rolling-back';
        const back = await acts.restoreProcess({ imagesDir: finalDump.imagesDir });
        await acts.discardCheckpoint({ checkpointId, deleteStored: true });
        progress.stage = 'failed';
        throw ApplicationFailure.create({
          type: FAILURE_TYPES.checkpointFailed,
          message:
            `checkpoint ${checkpointId} of pid ${pid} on host ${host} failed after the final dump ` +
            `(${innermostMessage(err)}); the process was restored on ${host} from the local images as pid ${back.pid}, ` +
            'and the partial checkpoint was deleted',
          nonRetryable: true,
          cause: err instanceof Error ? err : undefined,
          details: [{ checkpointId, host, restoredPid: back.pid }],
        });
      }
      await acts.discardCheckpoint({ checkpointId, deleteStored: true });
    });
    progress.stage = cancelled ? 'cancelled' : 'failed';
    if (cancelled && !isCancellation(err)) throw new CancelledFailure(`checkpoint ${checkpointId} cancelled; the process keeps running`);
    throw err;
  }
}
