/**
 * Workflow `migrate`: checkpoint a process on host A (pre-dumps while it runs, then the final
 * dump stops it), restore it on host B, and report the downtime (freeze on A to running on B)
 * with its parts. Layers stored before the freeze (pre-dumps, warm base layers) are fetched to B
 * while the process still runs on A, so only the final layer moves inside the downtime: straight
 * from A's worker to B's (direct-handoff.ts), or through the store when that link is off or fails.
 * If anything fails after the process stopped on A, it is restored on A from A's local images
 * (unless it already runs on B), so a failed migration never loses the process.
 */
import {
  CancellationScope,
  condition,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  patched,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { checkpoint } from './checkpoint';
import { CheckpointInProgress, MigratedNotStored, innermostMessage } from '../core';
import { handOff, listenForFinalLayers, openDirectLink, type DirectLink, type HandOffOutcome } from './direct-handoff';
import { invalidInput, toFailure } from './failures';
import { migrateLazy } from './migrate-lazy';
import { hostActivities, probeHost, type HostActivities } from './host-activities';
import { newCheckpointId, validateCheckpointId, validateCriuOptions, validateHost, validatePid, validatePrefix } from './input-validation';
import { DUMP_NOW_SIGNAL, PATCHES, PROGRESS_QUERY, processWorkflowId, workflowTaskQueue } from '../core';
import { NO_PREFETCH, listenForStoredLayers, prefetchStoredLayers, type Prefetch } from './prefetch-handshake';
import { restoreResult } from './restore';
import { rollBackMigration } from './rollback';
import type { RestoreOutcome } from '../activities/types';
import type { CheckpointInput, CheckpointResult, DowntimeBreakdown, FinalLayersReady, MigrateInput, MigrateResult, RestoreResult } from './types';
import { recordDowntime, withOutcomeMetric } from './metrics';

export interface MigrateProgress {
  stage: 'checking-hosts' | 'checkpointing' | 'prefetching' | 'sending-direct' | 'downloading' | 'restoring' | 'rolling-back' | 'cleaning' | 'storing' | 'done' | 'failed';
  from: string;
  to: string;
  pid: number;
  /** The checkpoint child workflow: query it for layer-level progress. */
  checkpointWorkflowId: string;
}

export const migrateProgressQuery = defineQuery<MigrateProgress>(PROGRESS_QUERY);
export const migrateDumpNowSignal = defineSignal(DUMP_NOW_SIGNAL);

export function downtimeOf(ck: CheckpointResult, downloadMs: number, restoreMs: number, runningAtMs: number): DowntimeBreakdown {
  // Host wall clocks: exact on one machine, as good as the hosts' clock sync otherwise.
  const totalMs = Math.max(0, runningAtMs - ck.finalDump.startedAtMs);
  const known = ck.finalDump.durationMs + ck.finalDump.uploadMs + ck.commitMs + downloadMs + restoreMs;
  return {
    totalMs,
    parts: {
      frozenDumpMs: ck.finalDump.frozenMs,
      finalDumpMs: ck.finalDump.durationMs,
      uploadMs: ck.finalDump.uploadMs,
      commitMs: ck.commitMs,
      downloadMs,
      restoreMs,
      otherMs: Math.max(0, totalMs - known),
    },
  };
}

export async function migrate(input: MigrateInput): Promise<MigrateResult> {
  return withOutcomeMetric('migrate', () => runMigrate(input), (r) => recordDowntime('migrate', r.downtime.totalMs));
}

async function runMigrate(input: MigrateInput): Promise<MigrateResult> {
  const { from, to, pid, prefix } = checkedInput(input);
  const startedAt = Date.now();
  const source = hostActivities(prefix, from);
  const target = hostActivities(prefix, to);
  const checkpointWorkflowId = processWorkflowId(from, pid);
  const progress: MigrateProgress = { stage: 'checking-hosts', from, to, pid, checkpointWorkflowId };
  setHandler(migrateProgressQuery, () => progress);
  let checkpointRunning = false;
  setHandler(migrateDumpNowSignal, async () => {
    if (checkpointRunning) await getExternalWorkflowHandle(checkpointWorkflowId).signal(DUMP_NOW_SIGNAL);
  });

  // The target must be there before the source process is stopped.
  await probeHost(target, prefix, to, progress);

  // Only runs asked for post-copy take the marker: every older history replays as before.
  if (input.lazy === true && patched(PATCHES.migrateLazy)) {
    return await migrateLazy({ input, source, target, from, to, pid, prefix, startedAt, progress });
  }

  progress.stage = 'checkpointing';
  // Runs started before the prefetch existed replay without it.
  const prefetchEnabled = patched(PATCHES.migratePrefetch);
  const downloadId = workflowInfo().runId;
  const announced = listenForStoredLayers();
  const offered = listenForFinalLayers();
  const direct = await prepareDirect(input, { source, target, from, pid, downloadId, prefetchEnabled });
  let prefetch = NO_PREFETCH;
  let handed: HandOffOutcome | null = null;
  let ck: CheckpointResult;
  try {
    checkpointRunning = true;
    const child = await startChild(checkpoint, {
      workflowId: checkpointWorkflowId,
      taskQueue: workflowTaskQueue(prefix),
      args: [checkpointInput(input, { from, pid, prefix, prefetchEnabled, checkpointId: direct.checkpointId, handOff: direct.link !== null })],
    });
    const finished = child.result();
    const offerCame = direct.link ? condition(() => offered() !== null) : null;
    if (prefetchEnabled) prefetch = await prefetchStoredLayers(child, offerCame ? Promise.race([finished, offerCame]) : finished, announced, { acts: target, downloadId, progress });
    const link = direct.link;
    if (link && offerCame && (await Promise.race([offerCame.then(() => true), finished.then(() => false, () => false)]))) {
      handed = await CancellationScope.nonCancellable(() =>
        handOff(child, offered()!, link, { source, target, onStage: (stage) => (progress.stage = stage) }),
      );
    }
    ck = await finished;
  } catch (err) {
    progress.stage = 'failed';
    await CancellationScope.nonCancellable(async () => {
      const dirs = [prefetch.dir, direct.link?.endpoint.stagingDir].filter((d): d is string => typeof d === 'string');
      for (const dir of new Set(dirs)) await target.cleanStaging({ dir });
      await closeDirectLink(direct.link, source, target);
    });
    if (handed?.kind === 'restored') {
      const checkpointId = handed.offer.checkpointId;
      throw toFailure(new MigratedNotStored(checkpointId, pid, to, handed.restored.pid, innermostMessage(err), { cause: err }), { checkpointId, runningOn: to, newPid: handed.restored.pid });
    }
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw toFailure(new CheckpointInProgress(pid, from, checkpointWorkflowId));
    }
    throw err;
  } finally {
    checkpointRunning = false;
  }

  // From here the process exists only as images: finish (or roll back) whatever happens.
  return await CancellationScope.nonCancellable(async () => {
    const moved = { source, target, from, to, pid, ck, downloadId, prefetch, progress };
    const link = direct.link;
    if (handed?.kind === 'restored' && link) return await finishDirect(moved, handed, link, startedAt);
    if (handed?.kind === 'restore-failed' && link) {
      await closeDirectLink(link, source, target);
      throw await rollBackMigration(handed.error, { ...moved, stagingDir: link.endpoint.stagingDir });
    }
    if (handed?.kind === 'send-failed' && !(await answers(target))) {
      // The target went away during the transfer: the store path would wait for it without end.
      throw await rollBackMigration(new Error(`${handed.problem}; host ${to} no longer answers`), { ...moved, stagingDir: null });
    }
    await closeDirectLink(link, source, target);
    const { restored, stagingDir } = await restoreOnTarget(moved);
    progress.stage = 'cleaning';
    await target.cleanStaging({ dir: stagingDir });
    await source.discardCheckpoint({ checkpointId: ck.checkpointId, deleteStored: false });
    progress.stage = 'done';
    return {
      ...resultBase(moved, restored, startedAt),
      downtime: downtimeOf(ck, restored.downloadMs, restored.restoreMs, restored.runningAtMs),
      ...(direct.wanted ? { path: 'store' as const, direct: null, directProblem: handed?.kind === 'send-failed' ? handed.problem : direct.problem } : {}),
    };
  });
}

interface DirectPlan {
  wanted: boolean;
  /** The id migrate picked for the checkpoint (the receiver's dir is named by it). */
  checkpointId: string | undefined;
  link: DirectLink | null;
  /** Why there is no link, when one was wanted. */
  problem: string | null;
}

/**
 * Opens the direct link before the checkpoint starts, so nothing of it is inside the downtime.
 * Runs from before the direct path, and migrations with direct: false, have none.
 */
async function prepareDirect(
  input: MigrateInput,
  h: { source: HostActivities; target: HostActivities; from: string; pid: number; downloadId: string; prefetchEnabled: boolean },
): Promise<DirectPlan> {
  if (!patched(PATCHES.migrateDirect)) return { wanted: false, checkpointId: input.checkpointId, link: null, problem: null };
  if (input.direct === false) return { wanted: true, checkpointId: input.checkpointId, link: null, problem: 'turned off (direct: false)' };
  const checkpointId = input.checkpointId ?? newCheckpointId(h.from, h.pid);
  if (!h.prefetchEnabled) return { wanted: true, checkpointId, link: null, problem: 'this run predates the prefetch the direct path builds on' };
  const { link, problem } = await openDirectLink(h.source, h.target, { sessionId: h.downloadId, checkpointId, downloadId: h.downloadId });
  return { wanted: true, checkpointId, link, problem };
}

/** Whether a host's worker still takes work (a probe: gives up after its schedule-to-start limit). */
async function answers(host: HostActivities): Promise<boolean> {
  return host.checkHost().then(
    () => true,
    () => false,
  );
}

async function closeDirectLink(link: DirectLink | null, source: HostActivities, target: HostActivities): Promise<void> {
  if (!link) return;
  // Best effort: a receiver closes itself after one transfer or when its lifetime ends.
  await Promise.all([source.closeDirectLink({ sessionId: link.sessionId }).catch(() => undefined), target.closeDirectLink({ sessionId: link.sessionId }).catch(() => undefined)]);
}

/** The process runs on the target and its checkpoint is stored: clean both hosts and report. */
async function finishDirect(m: Moving, h: Extract<HandOffOutcome, { kind: 'restored' }>, link: DirectLink, startedAt: number): Promise<MigrateResult> {
  const { ck, progress, to } = m;
  progress.stage = 'cleaning';
  await m.target.cleanStaging({ dir: link.endpoint.stagingDir });
  await m.source.discardCheckpoint({ checkpointId: ck.checkpointId, deleteStored: false });
  await closeDirectLink(link, m.source, m.target);
  progress.stage = 'done';
  const r = h.restored;
  const restored: RestoreResult = {
    checkpointId: ck.checkpointId,
    workflowId: workflowInfo().workflowId,
    host: to,
    pid: r.pid,
    layers: ck.baseLayers.length + ck.layers.length,
    bytesDownloaded: 0,
    downloadMs: 0,
    restoreMs: r.durationMs,
    restoreTimeUs: r.restoreTimeUs,
    runningAtMs: r.finishedAtMs,
    durationMs: h.sent.durationMs + r.durationMs,
  };
  return {
    ...resultBase(m, restored, startedAt),
    downtime: directDowntime(h.offer.finalDump, h.sent.durationMs, r),
    path: 'direct',
    direct: { bytes: h.sent.bytes, layersSent: h.sent.layersSent, durationMs: h.sent.durationMs },
    directProblem: null,
  };
}

function resultBase(m: Moving, restored: RestoreResult, startedAt: number): Omit<MigrateResult, 'downtime'> {
  return {
    workflowId: workflowInfo().workflowId,
    checkpointId: m.ck.checkpointId,
    from: m.from,
    to: m.to,
    pid: m.pid,
    newPid: restored.pid,
    checkpoint: m.ck,
    prefetch: m.prefetch.summary,
    prefetchProblem: m.prefetch.problem,
    restore: restored,
    durationMs: Date.now() - startedAt,
  };
}

/** Downtime on the direct path: freeze, send, restore; storing comes after the process runs. */
export function directDowntime(fd: FinalLayersReady['finalDump'], directMs: number, r: RestoreOutcome): DowntimeBreakdown {
  const totalMs = Math.max(0, r.finishedAtMs - fd.startedAtMs);
  const known = fd.durationMs + directMs + r.durationMs;
  return {
    totalMs,
    parts: { frozenDumpMs: fd.frozenMs, finalDumpMs: fd.durationMs, uploadMs: 0, commitMs: 0, downloadMs: 0, restoreMs: r.durationMs, directMs, otherMs: Math.max(0, totalMs - known) },
  };
}

function checkedInput(input: MigrateInput) {
  if (typeof input !== 'object' || input === null) throw invalidInput('migrate input must be a JSON object');
  const from = validateHost(input.from, 'from');
  const to = validateHost(input.to, 'to');
  const pid = validatePid(input.pid);
  const prefix = validatePrefix(input.taskQueuePrefix);
  if (input.checkpointId !== undefined) validateCheckpointId(input.checkpointId);
  if (input.direct !== undefined && typeof input.direct !== 'boolean') throw invalidInput('direct must be true or false');
  if (input.lazy !== undefined && typeof input.lazy !== 'boolean') throw invalidInput('lazy must be true or false');
  if (input.lazy === true && input.direct === false) throw invalidInput('lazy (post-copy) moves the process over the direct link: it cannot be combined with direct: false');
  validateCriuOptions(input.criuOptions);
  if (from === to) throw invalidInput(`from and to are both ${JSON.stringify(from)}; a migration needs two different hosts`);
  return { from, to, pid, prefix };
}

function checkpointInput(
  input: MigrateInput,
  c: { from: string; pid: number; prefix: string; prefetchEnabled: boolean; checkpointId: string | undefined; handOff: boolean },
): CheckpointInput {
  return {
    host: c.from,
    pid: c.pid,
    policy: input.policy,
    // A warm chain (nightly pre-dumps) is used when there is one, unless turned off.
    fromWarm: input.fromWarm !== false,
    checkpointId: c.checkpointId,
    leaveRunning: false,
    keepStaging: true,
    taskQueuePrefix: c.prefix,
    ...(c.prefetchEnabled ? { announceStoredLayers: true } : {}),
    ...(c.handOff ? { handOffFinalLayers: true } : {}),
    ...(input.criuOptions !== undefined ? { criuOptions: input.criuOptions } : {}),
  };
}

/** A migration whose checkpoint finished: from now on the process exists only as images. */
export interface CheckpointedMigration {
  source: HostActivities;
  target: HostActivities;
  from: string;
  to: string;
  pid: number;
  ck: CheckpointResult;
  progress: MigrateProgress;
}

interface Moving extends CheckpointedMigration {
  downloadId: string;
  prefetch: Readonly<Prefetch>;
}

/** Downloads the checkpoint to the target and restores it there; rolls back to the source if that fails. */
async function restoreOnTarget(m: Moving): Promise<{ restored: RestoreResult; stagingDir: string }> {
  const { target, ck, progress } = m;
  let stagingDir: string | null = m.prefetch.dir;
  try {
    progress.stage = 'downloading';
    const dl = await target.downloadChain({ checkpointId: ck.checkpointId, downloadId: m.downloadId, ...(m.prefetch.summary ? { keepPresent: true } : {}) });
    stagingDir = dl.stagingDir;
    progress.stage = 'restoring';
    const r = await target.restoreProcess({ imagesDir: dl.imagesDir });
    return { restored: restoreResult(ck.checkpointId, m.to, dl, r, dl.durationMs + r.durationMs), stagingDir };
  } catch (err) {
    throw await rollBackMigration(err, { ...m, stagingDir });
  }
}
