/**
 * Inputs and results of ferry's workflows: plain JSON, documented in docs/workflows.md, so any
 * Temporal client can start them (`temporal workflow start --type checkpoint --input '{...}'`).
 * Nothing here is ever a credential.
 */
import type { LayerSummary, ProcessIdentity } from '../core/layer';
import type { CriuFeatures, CriuOptions } from '../criu/types';

export type { LayerSummary } from '../core/layer';
import type { ConvergencePolicy, DecisionRecord, StopReason } from './convergence-policy';
import type { DeadlineOutcome, DeadlinePlan } from './deadline-plan';

export interface CheckpointInput {
  /** Host name whose worker runs CRIU (task queue `<prefix>-host-<host>`). */
  host: string;
  pid: number;
  /** Overrides of the convergence policy (defaults in DEFAULT_POLICY). */
  policy?: Partial<ConvergencePolicy>;
  /** Keep the process running after the final dump (default false: CRIU stops it once dumped). */
  leaveRunning?: boolean;
  /** Id to store the checkpoint under; generated (deterministically) when absent. */
  checkpointId?: string;
  /** Build on the process's warm chain (nightly pre-dumps) if it has one. */
  fromWarm?: boolean;
  /**
   * Keep the host's local images after success (migrate uses them to bring the process back on
   * the source host if the restore on the target fails). The caller must clean them.
   */
  keepStaging?: boolean;
  /**
   * Set by migrate (only valid in a child workflow): once the pre-dump layers are stored, commit
   * them as an incomplete manifest, signal `layersStored` to the parent, and wait for its
   * `prefetched` signal (or a dump-now request, or prefetchWaitLimitMs) before the final dump, so
   * the target host fetches them while the process still runs. Default false.
   */
  announceStoredLayers?: boolean;
  /** Longest wait for `prefetched` (default 2 hours, the transfer activities' own limit). */
  prefetchWaitLimitMs?: number;
  /**
   * Set by migrate with a direct link (only with announceStoredLayers): after the final dump,
   * signal `finalLayersReady` to the parent and wait for `handedOff` before storing anything, so
   * the layers go to the target first and the store gets them once the process runs there.
   */
  handOffFinalLayers?: boolean;
  /** Task-queue prefix of the ferry deployment (default "ferry"). */
  taskQueuePrefix?: string;
  /** CRIU resource options every dump needs, e.g. {"fileLocks": true}; a restore applies them by itself. */
  criuOptions?: CriuOptions;
  /**
   * When the checkpoint must be stored by (ISO 8601 with a zone), e.g. a spot VM's termination
   * time. Pre-dumps are taken only while more than deadlineReserveMs is left; the result says
   * whether the deadline was met (docs/triggers.md).
   */
  deadline?: string;
  /** Time the final dump and its upload are given before the deadline (ms, default 30000). */
  deadlineReserveMs?: number;
}

/** What a checkpoint tells its parent with `layersStored`. */
export interface LayersStored {
  checkpointId: string;
  /** Layers of the chain stored so far (warm base layers included). */
  layers: number;
  bytes: number;
  /** 1 for the layers stored before the freeze, then one more per catch-up round (absent: 1). */
  round?: number;
}

export type CheckpointStage =
  | 'starting'
  | 'checking-host'
  | 'pre-dumping'
  | 'catching-up'
  | 'awaiting-prefetch'
  | 'final-dump'
  | 'handing-off'
  | 'uploading'
  | 'committing'
  | 'cleaning'
  | 'rolling-back'
  | 'done'
  | 'cancelled'
  | 'failed';


export interface PreDumpOutcome {
  /** Whether this host's kernel can track dirty memory (soft-dirty), which pre-dumps need. */
  available: boolean;
  /** Pre-dumps taken (warm-chain layers reused are counted in warmLayers, not here). */
  count: number;
  warmLayers: number;
  /** Why pre-dumping stopped, or why none were taken. */
  stopReason: StopReason | 'kernel-cannot-track' | 'disabled-by-policy';
  detail: string;
  predictedDowntimeMs: number | null;
  /** Catch-up pre-dumps taken after the stored layers moved (absent in runs before they existed). */
  catchUps?: number;
  /** Bytes a dump of the process would write when the checkpoint started (resident anonymous memory). */
  residentBytes?: number | null;
  /** Every convergence decision with the numbers it was made on, in order. */
  decisions?: DecisionRecord[];
}

export interface CheckpointProgress {
  stage: CheckpointStage;
  checkpointId: string;
  host: string;
  pid: number;
  layers: LayerSummary[];
  bytesUploaded: number;
  dumpNowRequested: boolean;
  preDumps: PreDumpOutcome | null;
  /** Convergence decisions so far, with their numbers (absent in runs before they were recorded). */
  decisions?: DecisionRecord[];
  /** The plan made for the input's deadline (absent without one). */
  deadline?: DeadlinePlan;
}

export interface CheckpointResult {
  checkpointId: string;
  workflowId: string;
  host: string;
  pid: number;
  process: ProcessIdentity;
  criuVersion: string;
  kernel: string;
  features: CriuFeatures;
  leftRunning: boolean;
  layers: LayerSummary[];
  baseLayers: Array<{ checkpointId: string; index: number }>;
  preDumps: PreDumpOutcome;
  finalDump: {
    /** Host wall clock just before the final dump (the process froze right after). */
    startedAtMs: number;
    frozenMs: number;
    durationMs: number;
    uploadMs: number;
    bytes: number;
  };
  commitMs: number;
  bytesUploaded: number;
  /** Workflow time from start to result. */
  durationMs: number;
  /** With a deadline in the input: stored before it or not, and by how much. */
  deadline?: DeadlineOutcome;
}

export interface RestoreInput {
  checkpointId: string;
  /** Host name whose worker restores the process. */
  host: string;
  taskQueuePrefix?: string;
}

export interface RestoreResult {
  checkpointId: string;
  workflowId: string;
  host: string;
  pid: number;
  layers: number;
  bytesDownloaded: number;
  downloadMs: number;
  restoreMs: number;
  restoreTimeUs: number | null;
  /** Host wall clock when the restored process was running again. */
  runningAtMs: number;
  durationMs: number;
}

export interface MigrateInput {
  pid: number;
  from: string;
  to: string;
  policy?: Partial<ConvergencePolicy>;
  /** Build on the process's warm chain when it has one (default true; false ignores it). */
  fromWarm?: boolean;
  checkpointId?: string;
  taskQueuePrefix?: string;
  /** CRIU resource options the dumps need (the restore on the target applies them by itself). */
  criuOptions?: CriuOptions;
  /**
   * Send the final layers straight from the source worker to the target worker (TLS, a key made
   * for this migration), restore, then store the checkpoint (default true). false: through the
   * store inside the downtime, as before. When the direct path fails the store path is taken.
   */
  direct?: boolean;
  /**
   * Post-copy: restore on the target before the memory arrives (non-memory images over the direct
   * link, pages on fault and in the background through an encrypted tunnel from the source), then
   * a --leave-running checkpoint on the target as the durable copy. The process needs the source
   * until its last page arrived (see PostCopySummary.risk). Needs the direct link (not with
   * direct: false). Default false.
   */
  lazy?: boolean;
}

/** A post-copy migration's timeline and its durable copy. */
export interface PostCopySummary {
  /** From the final dump's start to the process running on the target. */
  runningOnTargetMs: number;
  /** From the final dump's start to the last page on the target. */
  lastPageAtMs: number;
  /** How long the process ran on the target while pages still came from the source. */
  pagesAfterRunningMs: number;
  /** Non-memory images sent over the direct link before the restore. */
  imagesBytes: number;
  /** Bytes that crossed the page tunnel from the source (pages and CRIU's framing). */
  tunnelBytes: number;
  /** What could have gone wrong while pages came from the source. */
  risk: string;
  /** The target had every page, yet the source's CRIU reported a failure (it then resumes its copy). */
  sourceProblem?: string;
  /**
   * The durable copy: a --leave-running checkpoint of the restored process on the target, taken
   * once every page was in. It froze the process again for frozenMs.
   */
  durableCopy: { checkpointId: string; workflowId: string; frozenMs: number; finalDumpMs: number; storedAtMs: number };
}

/** What the checkpoint offers its parent with `finalLayersReady`. */
export interface FinalLayersReady {
  checkpointId: string;
  /** The checkpoint's layers on the source host, final dump last. */
  layers: Array<{ index: number; imagesDir: string }>;
  finalDump: { startedAtMs: number; durationMs: number; frozenMs: number; bytes: number };
}

/** The parent's answer with `handedOff`. */
export interface HandedOff {
  /** The process now runs on the target: a failure to store must not bring it back on the source. */
  restoredElsewhere: boolean;
}

/** How the final layers reached the target. */
export interface DirectTransferSummary {
  bytes: number;
  layersSent: number[];
  durationMs: number;
}

export interface DowntimeBreakdown {
  /** From the freeze on the source host to the process running on the target host. */
  totalMs: number;
  parts: {
    /** CRIU's own frozen time during the final dump. */
    frozenDumpMs: number;
    /** The whole final-dump step (CRIU start to process gone on the source). */
    finalDumpMs: number;
    uploadMs: number;
    commitMs: number;
    downloadMs: number;
    restoreMs: number;
    /** Sending the final layers straight to the target (direct path; absent in older results). */
    directMs?: number;
    /** Scheduling and bookkeeping between the steps (total minus the parts above). */
    otherMs: number;
  };
}

export interface MigrateResult {
  workflowId: string;
  checkpointId: string;
  from: string;
  to: string;
  pid: number;
  newPid: number;
  downtime: DowntimeBreakdown;
  checkpoint: CheckpointResult;
  /**
   * The target's download of the layers stored before the freeze (pre-dumps, warm base layers),
   * outside the downtime; null when there were none, or when the prefetch failed and the download
   * inside the downtime fetched everything (see prefetchProblem).
   */
  prefetch: PrefetchSummary | null;
  /** Why the prefetch failed (the migration went on without it), or null. */
  prefetchProblem: string | null;
  /**
   * How the final layers reached the target inside the downtime: "direct" from the source worker,
   * or "store" (upload, commit, download). Absent in results of runs from before the direct path.
   */
  path?: 'direct' | 'store' | 'post-copy';
  /** A post-copy migration (lazy: true): its timeline and durable copy; absent otherwise. */
  postCopy?: PostCopySummary;
  /** The direct transfer, when that path was taken. */
  direct?: DirectTransferSummary | null;
  /** Why the direct path was not taken (turned off, no link, the transfer failed), or null. */
  directProblem?: string | null;
  restore: RestoreResult;
  durationMs: number;
}

export interface PrefetchSummary {
  layers: number;
  bytes: number;
  durationMs: number;
}

export interface WarmPreDumpInput {
  host: string;
  /** Exactly one of pid and pidFile (read on the host at each run, so restarts are followed). */
  pid?: number;
  pidFile?: string;
  /** Start a new chain once this many layers exist (default 7). */
  maxChainLength?: number;
  taskQueuePrefix?: string;
  /**
   * The schedule that starts these runs, recorded in the chain's manifest so that gc keeps the
   * chain while the schedule exists. Schedules created before it was passed are recognised by
   * Temporal's TemporalScheduledById search attribute instead.
   */
  scheduleId?: string;
}

export interface WarmPreDumpResult {
  host: string;
  pid: number | null;
  /** 'added' a layer, or 'skipped' cleanly (the reason says why). */
  outcome: 'added' | 'skipped';
  reason: string;
  chainCheckpointId: string | null;
  /** Layers in the chain after this run. */
  chainLength: number;
  newChain: boolean;
  layer: LayerSummary | null;
}

export interface AddWarmLayerInput {
  host: string;
  pid: number;
  maxChainLength: number;
  taskQueuePrefix: string;
  /** The schedule this run belongs to (absent for an unscheduled run). */
  scheduleId?: string;
}
