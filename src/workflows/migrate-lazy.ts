/**
 * migrate with lazy: true (post-copy). The process runs on the target before its memory is there:
 *
 *   openDirectLink (keys on both workers, receiver on the target)   nothing touched yet
 *   openPageTunnel (target)                                         the tunnel's entrance
 *   startLazyDump (source)      freeze; non-memory images to the target; page server behind the tunnel
 *   restoreProcess (target, lazy pages from the tunnel)  |  finishLazyDump (source)
 *        the process runs here ... pages on fault and in the background ... last page in
 *   checkpoint child on the target, leaveRunning: the durable copy in the store
 *
 * Until the last page is in, the process needs both hosts (POST_COPY_RISK). Failure rules: before
 * the process ran on the target, CRIU resumes it on the source (a lazy dump that fails, or whose
 * tunnel is cut, leaves the task alive); after it ran, the copy on the target is killed and the
 * failure says where the process is, or that it is lost. A failed durable copy fails the
 * workflow as MigratedNotStored: the migration itself succeeded.
 */
import { CancellationScope, executeChild, workflowInfo } from '@temporalio/workflow';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { checkpoint } from './checkpoint';
import { MigratedNotStored, POST_COPY_RISK, PostCopyFailed, innermostMessage, processWorkflowId, workflowTaskQueue, type PostCopyOutcome } from '../core';
import { openDirectLink, type DirectLink } from './direct-handoff';
import { toFailure } from './failures';
import { newCheckpointId } from './input-validation';
import type { HostActivities } from './host-activities';
import type { LazyDumpStarted, PageTunnelEndpoint, RestoreOutcome } from '../activities/types';
import type { CheckpointResult, MigrateInput, MigrateResult } from './types';
import type { MigrateProgress } from './migrate';

export interface LazyMigration {
  input: MigrateInput;
  source: HostActivities;
  target: HostActivities;
  from: string;
  to: string;
  pid: number;
  prefix: string;
  startedAt: number;
  progress: { stage: MigrateProgress['stage'] };
}

export async function migrateLazy(m: LazyMigration): Promise<MigrateResult> {
  const { source, target, from, to, pid, progress } = m;
  const fail = (problem: string, outcome: PostCopyOutcome, cause?: unknown): ApplicationFailure => {
    progress.stage = 'failed';
    return toFailure(new PostCopyFailed(pid, from, to, problem, outcome, cause instanceof Error ? { cause } : undefined), { outcome, runningOn: outcome === 'not-started' || outcome === 'resumed-on-source' || outcome === 'broke-after-running' ? from : null });
  };
  const sessionId = workflowInfo().runId;
  // The durable copy is stored under it; the source's lazy dump is staged under it too.
  const checkpointId = m.input.checkpointId ?? newCheckpointId(from, pid);

  progress.stage = 'checkpointing';
  const { link, problem } = await openDirectLink(source, target, { sessionId, checkpointId, downloadId: sessionId });
  if (!link) throw fail(`post-copy needs the direct link between the two workers: ${problem ?? 'none'}`, 'not-started');
  let tunnel: PageTunnelEndpoint;
  try {
    tunnel = await target.openPageTunnel({ sessionId });
  } catch (err) {
    await cleanUp(m, link, checkpointId);
    throw fail(`the target could not open the page tunnel: ${innermostMessage(err)}`, 'not-started', err);
  }

  // From the freeze on the process must end up running somewhere: no cancellation from here.
  return await CancellationScope.nonCancellable(async () => {
    let started: LazyDumpStarted;
    try {
      started = await source.startLazyDump({ sessionId, checkpointId, pid, to: link.endpoint, tunnel, ...(m.input.criuOptions ? { criuOptions: m.input.criuOptions } : {}) });
    } catch (err) {
      await cleanUp(m, link, checkpointId);
      throw fail(innermostMessage(err), 'resumed-on-source', err);
    }

    progress.stage = 'restoring';
    const serving = source.finishLazyDump({ sessionId }).then(
      (done) => ({ done, problem: null }),
      (err: unknown) => ({ done: null, problem: innermostMessage(err) }),
    );
    let restored: RestoreOutcome;
    try {
      restored = await target.lazyRestoreProcess({ imagesDir: started.targetImagesDir, lazyPagesFrom: { address: '127.0.0.1', port: tunnel.localPort } });
    } catch (err) {
      const ran = ranOnTarget(err);
      // Cutting the tunnel makes CRIU fail its page server and resume the process on the source.
      const aborted = await source.abortLazyDump({ sessionId }).catch(() => ({ resumedHere: false }));
      const served = await serving;
      await cleanUp(m, link, checkpointId);
      const resumed = aborted.resumedHere || served.problem !== null;
      throw fail(innermostMessage(err), ran ? (resumed ? 'broke-after-running' : 'lost') : 'resumed-on-source', err);
    }
    const served = await serving;
    progress.stage = 'cleaning';
    await cleanUp(m, link, checkpointId);

    progress.stage = 'storing';
    const copy = await durableCopy(m, restored.pid, checkpointId).catch((err: unknown) => {
      progress.stage = 'failed';
      throw toFailure(new MigratedNotStored(checkpointId, pid, to, restored.pid, `the --leave-running checkpoint on ${to} after the post-copy failed: ${innermostMessage(err)}`, err instanceof Error ? { cause: err } : undefined), {
        runningOn: to,
        newPid: restored.pid,
        runningOnTargetMs: restored.finishedAtMs - started.startedAtMs,
        lastPageAtMs: (restored.lastPageAtMs ?? restored.finishedAtMs) - started.startedAtMs,
      });
    });
    progress.stage = 'done';
    return result(m, { started, restored, copy, tunnelBytes: served.done?.bytesToTarget ?? 0, sourceProblem: served.problem });
  });
}

/** Whether a failed lazy restore had already let the process run (restore-steps.ts says so in details). */
function ranOnTarget(err: unknown): boolean {
  const failure = err instanceof ActivityFailure ? err.cause : err;
  if (!(failure instanceof ApplicationFailure)) return false;
  const details = failure.details?.[0] as { ranOnTarget?: unknown } | undefined;
  return details?.ranOnTarget === true;
}

/** The store's copy: a --leave-running checkpoint of the restored process, on the target. */
async function durableCopy(m: LazyMigration, newPid: number, checkpointId: string): Promise<CheckpointResult> {
  return executeChild(checkpoint, {
    workflowId: processWorkflowId(m.to, newPid),
    taskQueue: workflowTaskQueue(m.prefix),
    args: [
      {
        host: m.to,
        pid: newPid,
        leaveRunning: true,
        fromWarm: false,
        checkpointId,
        taskQueuePrefix: m.prefix,
        ...(m.input.policy ? { policy: m.input.policy } : {}),
        ...(m.input.criuOptions ? { criuOptions: m.input.criuOptions } : {}),
      },
    ],
  });
}

/** Best effort: each host drops what this migration left (a worker that is gone keeps nothing worth it). */
async function cleanUp(m: LazyMigration, link: DirectLink, checkpointId: string): Promise<void> {
  await CancellationScope.nonCancellable(async () => {
    await Promise.all([
      m.target.cleanStaging({ dir: link.endpoint.stagingDir }).catch(() => undefined),
      m.source.discardCheckpoint({ checkpointId, deleteStored: false }).catch(() => undefined),
      m.source.closeDirectLink({ sessionId: link.sessionId }).catch(() => undefined),
      m.target.closeDirectLink({ sessionId: link.sessionId }).catch(() => undefined),
    ]);
  });
}

function result(
  m: LazyMigration,
  r: { started: LazyDumpStarted; restored: RestoreOutcome; copy: CheckpointResult; tunnelBytes: number; sourceProblem: string | null },
): MigrateResult {
  const { started, restored, copy } = r;
  const runningOnTargetMs = Math.max(0, restored.finishedAtMs - started.startedAtMs);
  const lastPageAt = restored.lastPageAtMs ?? restored.finishedAtMs;
  const imagesMs = Math.max(0, started.imagesWrittenAtMs - started.startedAtMs);
  const directMs = Math.max(0, started.handedAtMs - started.imagesWrittenAtMs);
  const known = imagesMs + directMs + restored.durationMs;
  return {
    workflowId: workflowInfo().workflowId,
    checkpointId: copy.checkpointId,
    from: m.from,
    to: m.to,
    pid: m.pid,
    newPid: restored.pid,
    downtime: {
      totalMs: runningOnTargetMs,
      // The freeze lasts until CRIU wrote the non-memory images (the memory moves later).
      parts: { frozenDumpMs: imagesMs, finalDumpMs: imagesMs, uploadMs: 0, commitMs: 0, downloadMs: 0, restoreMs: restored.durationMs, directMs, otherMs: Math.max(0, runningOnTargetMs - known) },
    },
    checkpoint: copy,
    prefetch: null,
    prefetchProblem: null,
    path: 'post-copy',
    direct: { bytes: started.bytes, layersSent: [0], durationMs: directMs },
    directProblem: null,
    postCopy: {
      runningOnTargetMs,
      lastPageAtMs: Math.max(0, lastPageAt - started.startedAtMs),
      pagesAfterRunningMs: Math.max(0, lastPageAt - restored.finishedAtMs),
      imagesBytes: started.bytes,
      tunnelBytes: r.tunnelBytes,
      risk: POST_COPY_RISK,
      ...(r.sourceProblem ? { sourceProblem: r.sourceProblem } : {}),
      durableCopy: {
        checkpointId: copy.checkpointId,
        workflowId: copy.workflowId,
        frozenMs: copy.finalDump.frozenMs,
        finalDumpMs: copy.finalDump.durationMs,
        storedAtMs: Math.max(0, copy.finalDump.startedAtMs + copy.finalDump.durationMs + copy.finalDump.uploadMs + copy.commitMs - started.startedAtMs),
      },
    },
    restore: {
      checkpointId: copy.checkpointId,
      workflowId: workflowInfo().workflowId,
      host: m.to,
      pid: restored.pid,
      layers: 1,
      bytesDownloaded: 0,
      downloadMs: 0,
      restoreMs: restored.durationMs,
      restoreTimeUs: restored.restoreTimeUs,
      runningAtMs: restored.finishedAtMs,
      durationMs: restored.durationMs,
    },
    durationMs: Date.now() - m.startedAt,
  };
}
