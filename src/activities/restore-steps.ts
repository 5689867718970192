/**
 * Activities that bring a process back from images on this host, and that remove what a
 * checkpoint or a download left in the host's staging dir (and in the store, when asked).
 */
import fs from 'node:fs/promises';
import { ApplicationFailure, log } from '@temporalio/activity';
import { LazyPagesFailedError, failureTypeOf, isError } from '../core';
import type { ProcessIdentity } from '../criu/types';
import { mapped, type ActivityContext } from './context';
import { readJson, writeJsonAtomic } from './staging';
import type { CleanInput, DiscardInput, RestoreProcessInput, RestoreOutcome } from './types';

export function restoreSteps(ctx: ActivityContext) {
  const { deps, staging, now } = ctx;
  return {
    async restoreProcess(input: RestoreProcessInput): Promise<RestoreOutcome> {
      return mapped(async () => {
        const imagesDir = staging.inside(input.imagesDir);
        const marker = staging.restoreMarker(imagesDir);
        const earlier = await readJson<RestoreOutcome & { process: ProcessIdentity }>(marker);
        if (earlier && (await deps.criu.isAlive(earlier.process))) {
          // The restore succeeded but its result was lost: restoring again would clash with it.
          log.info('process already restored by an earlier attempt', { pid: earlier.pid });
          return { pid: earlier.pid, restoreTimeUs: earlier.restoreTimeUs, startedAtMs: earlier.startedAtMs, finishedAtMs: earlier.finishedAtMs, durationMs: earlier.durationMs };
        }
        const startedAtMs = now();
        const lazy = input.lazyPagesFrom ? { lazyPages: true, lazyPagesFrom: input.lazyPagesFrom } : {};
        const r = await ctx.whileBeating({ stage: 'restore' }, deps.criu.restore({ imagesDir, ...lazy }).catch((err: unknown) => {
          throw lazyRestoreBroke(err);
        }));
        const doneAtMs = now();
        // A lazy restore returns with the last page; the process ran since RESTORE answered.
        const finishedAtMs = r.lazyPages ? doneAtMs - r.lazyPages.allPagesInMs : doneAtMs;
        const outcome: RestoreOutcome = {
          pid: r.pid,
          restoreTimeUs: r.restoreTimeUs,
          startedAtMs,
          finishedAtMs,
          durationMs: finishedAtMs - startedAtMs,
          ...(r.lazyPages ? { lastPageAtMs: doneAtMs } : {}),
        };
        try {
          // Not identify(): with rst_sibling the restored process is the worker's child, which
          // identify() refuses as ferry's own tree, and the marker was then never written.
          const process = deps.criu.describe ? await deps.criu.describe(r.pid) : await deps.criu.identify(r.pid);
          await writeJsonAtomic(marker, { ...outcome, process });
        } catch (err) {
          log.warn('could not record the restored process for retries', { pid: r.pid, error: String(err) });
        }
        return outcome;
      });
    },

    async cleanStaging(input: CleanInput): Promise<void> {
      return mapped(async () => {
        await staging.remove(input.dir);
        await fs.rm(`${staging.inside(input.dir)}.restored.json`, { force: true });
      });
    },

    async discardCheckpoint(input: DiscardInput): Promise<void> {
      return mapped(async () => {
        await staging.remove(staging.checkpointDir(input.checkpointId));
        if (input.deleteStored) await deps.store.discard(input.checkpointId);
      });
    },
  };
}

/**
 * A lazy restore whose pages stopped coming after the process ran (the driver killed that copy:
 * it lacked memory). The failure says that it ran (details.ranOnTarget), for the workflow to tell
 * the user what is left where.
 */
function lazyRestoreBroke(err: unknown): unknown {
  if (!isError(err, LazyPagesFailedError) || err.pid === null) return err;
  return ApplicationFailure.create({
    type: failureTypeOf(err.kind),
    message: err.message,
    nonRetryable: true,
    cause: err,
    details: [{ kind: err.kind, ranOnTarget: true, pid: err.pid }],
  });
}
