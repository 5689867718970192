/**
 * Activities that move layers between the host and the layer store: upload a dumped layer, commit
 * a checkpoint's manifest, download a chain for a restore. Transfers heartbeat their progress and
 * resume on retry (stored parts are not sent again, present layers are not fetched again).
 */
import { activityInfo, cancellationSignal, heartbeat, log } from '@temporalio/activity';
import { mapped, type ActivityContext } from './context';
import { CheckpointExists } from '../core';
import { makeStagingDir } from './staging';
import { recordStored } from './metrics';
import type { CommitInput, CommitResult, DownloadInput, DownloadResult, UploadInput, UploadResult } from './types';

export function transferSteps({ deps, staging, now, rates }: ActivityContext) {
  return {
    async uploadLayer(input: UploadInput): Promise<UploadResult> {
      return mapped(async () => {
        const { layer } = input;
        const previous = activityInfo().heartbeatDetails as { bytesDone?: number } | undefined;
        if (previous?.bytesDone) {
          log.info('resuming layer upload', { index: layer.index, bytesDoneBefore: previous.bytesDone });
        }
        const startedAtMs = now();
        const { record, bytesSent } = await deps.store.putLayer(
          input.checkpointId,
          {
            index: layer.index,
            kind: layer.kind,
            parentIndex: layer.parentIndex,
            criuVersion: layer.criuVersion,
            kernel: deps.kernel,
            host: deps.host,
            process: layer.process,
            stats: layer.stats,
          },
          staging.inside(layer.imagesDir),
          {
            onProgress: (p) => heartbeat({ index: layer.index, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }),
            signal: cancellationSignal(),
          },
        );
        const durationMs = now() - startedAtMs;
        rates.noteUpload(bytesSent, durationMs, now());
        recordStored(deps.host, bytesSent);
        return { index: layer.index, record, bytes: record.bytes, alreadyStored: bytesSent === 0 && record.bytes > 0, startedAtMs, durationMs };
      });
    },

    /**
     * Refuses an id already stored, before anything is dumped: a run under it would overwrite that
     * checkpoint on success and, on failure, discard it as if it were its own.
     */
    async assertCheckpointIdFree(input: { checkpointId: string; owner?: string }): Promise<void> {
      return mapped(async () => {
        // With an owner the id is also claimed, atomically: of two runs given the same new id,
        // only one goes on (the check alone would let both through).
        const taken = deps.store.claim && input.owner !== undefined ? !(await deps.store.claim(input.checkpointId, input.owner)) : await deps.store.exists(input.checkpointId);
        if (taken) {
          throw new CheckpointExists(input.checkpointId, 'a checkpoint workflow never reuses an id (its failure would discard the stored checkpoint, its success overwrite it)');
        }
      });
    },

    async commitCheckpoint(input: CommitInput): Promise<CommitResult> {
      return mapped(async () => {
        const startedAtMs = now();
        const r = await deps.store.commit(input.checkpointId, input.layers, input.baseLayers, input.warm);
        return { checkpointId: input.checkpointId, layers: r.layers, complete: r.complete, startedAtMs, durationMs: now() - startedAtMs };
      });
    },

    async downloadChain(input: DownloadInput): Promise<DownloadResult> {
      return mapped(async () => {
        const dir = staging.downloadDir(input.checkpointId, input.downloadId);
        const keepPresent = input.keepPresent === true;
        // Without keepPresent a clean pull is simpler to trust than the leftovers of an earlier attempt.
        if (!keepPresent) await staging.remove(dir);
        await makeStagingDir(dir);
        const startedAtMs = now();
        try {
          const r = await deps.store.pullChain(input.checkpointId, dir, {
            onProgress: (p) => heartbeat({ bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }),
            signal: cancellationSignal(),
            allowIncomplete: input.allowIncomplete === true,
            // Present layers were verified by this worker when it downloaded them (the prefetch).
            trustPresent: keepPresent,
          });
          return {
            checkpointId: input.checkpointId,
            imagesDir: r.finalDir,
            stagingDir: dir,
            layers: r.layerDirs.length,
            layersDownloaded: r.downloaded.length,
            bytes: r.bytes,
            startedAtMs,
            durationMs: now() - startedAtMs,
          };
        } catch (err) {
          // Verified layers of a prefetch stay for the retry; the workflow cleans the dir if it gives up.
          if (!keepPresent) await staging.remove(dir);
          throw err;
        }
      });
    },
  };
}
