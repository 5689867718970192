/**
 * Activities that dump one layer with CRIU into the host's staging dir: a pre-dump while the
 * process runs, or the final dump. Safe to retry: a finished layer is found by its marker.
 */
import { CancelledFailure, cancellationSignal, log } from '@temporalio/activity';
import { pageWriteMs, RATE_SAMPLE_PAGES } from '../core/layer';
import { mapped, type ActivityContext } from './context';
import { dirBytes, makeStagingDir, readJson, writeJsonAtomic } from './staging';
import { ensureRoomForDump } from './staging-space';
import { recordDump } from './metrics';
import type { FinalDumpInput, LayerDump, LayerStepInput } from './types';

export function dumpSteps(ctx: ActivityContext) {
  const { deps, staging, now } = ctx;

  /** Shared by pre-dump and final dump: idempotent on retry through the layer marker. */
  async function dumpStep(input: LayerStepInput, kind: 'pre-dump' | 'dump', leaveRunning: boolean): Promise<LayerDump> {
    const dir = staging.layerDir(input.checkpointId, input.index);
    const marker = staging.layerMarker(input.checkpointId, input.index);
    const done = await readJson<LayerDump>(marker);
    if (done) {
      log.info('layer already dumped by an earlier attempt; reusing it', { dir, index: input.index });
      return done;
    }
    // A previous attempt that failed part-way left images CRIU would refuse to write over.
    await staging.remove(dir);
    const parentDir = input.parent ? staging.inside(input.parent.imagesDir) : undefined;
    await ensureRoomForDump(staging.root, `${kind} of layer ${input.index} (pid ${input.pid})`, {
      dumpableBytes: deps.criu.dumpableBytes ? await deps.criu.dumpableBytes(input.pid) : null,
      parentBytes: parentDir ? await dirBytes(parentDir) : null,
    });
    await makeStagingDir(dir);
    const startedAtMs = now();
    const request = {
      pid: input.pid,
      imagesDir: dir,
      ...(parentDir ? { prevImagesDir: parentDir } : {}),
      expectedIdentity: input.expectedIdentity,
      ...(input.criuOptions ? { criuOptions: input.criuOptions } : {}),
    };
    const result = await ctx.whileBeating(
      { stage: kind, index: input.index },
      kind === 'pre-dump' ? deps.criu.preDump(request) : deps.criu.dump({ ...request, leaveRunning }),
    );
    const durationMs = now() - startedAtMs;
    const dump: LayerDump = {
      index: input.index,
      kind,
      imagesDir: dir,
      parentIndex: input.index === 0 ? null : input.index - 1,
      stats: result.stats,
      process: result.process,
      criuVersion: result.criuVersion,
      leftRunning: result.leftRunning,
      bytes: await dirBytes(dir),
      startedAtMs,
      durationMs,
    };
    // A dump that stopped the process must be reported whatever happens: it is the only copy.
    if (dump.leftRunning && cancellationSignal().aborted) {
      await staging.remove(dir);
      throw new CancelledFailure(`${kind} of layer ${input.index} cancelled; its images were removed, the process keeps running`);
    }
    await writeJsonAtomic(marker, dump);
    recordDump(deps.host, kind, dump.stats.frozenTimeUs / 1000, dump.bytes);
    // Remembered for the next checkpoint's first decision; a small layer is mostly fixed cost.
    const writeMs = pageWriteMs(dump.stats, durationMs);
    if (dump.stats.pagesWritten >= RATE_SAMPLE_PAGES) ctx.rates.noteDump(dump.stats.pagesWritten * deps.pageSize, writeMs, ctx.now());
    return dump;
  }

  return {
    async preDumpLayer(input: LayerStepInput): Promise<LayerDump> {
      return mapped(() => dumpStep(input, 'pre-dump', true));
    },

    async dumpLayer(input: FinalDumpInput): Promise<LayerDump> {
      return mapped(() => dumpStep(input, 'dump', input.leaveRunning));
    },
  };
}
