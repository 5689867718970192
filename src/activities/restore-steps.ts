/**
 * Activities that bring a process back from images on this host, and that remove what a
 * checkpoint or a download left in the host's staging dir (and in the store, when asked).
 */
import fs from 'node:fs/promises';
import { log } from '@temporalio/activity';
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
        const r = await ctx.whileBeating({ stage: 'restore' }, deps.criu.restore({ imagesDir }));
        const finishedAtMs = now();
        const outcome: RestoreOutcome = { pid: r.pid, restoreTimeUs: r.restoreTimeUs, startedAtMs, finishedAtMs, durationMs: finishedAtMs - startedAtMs };
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
