/**
 * ferry's activities: thin steps that wire the CRIU driver and the layer store together on one
 * host, heartbeat while they work, honour cancellation, and are safe to retry.
 *
 * Built by a factory that receives its dependencies (see deps.ts), so the worker passes the real
 * CRIU driver and S3 store while tests pass fakes. Workflows import only the type of the result.
 */
import fs from 'node:fs/promises';
import { CancelledFailure, activityInfo, cancellationSignal, heartbeat, log } from '@temporalio/activity';
import type { ProcessIdentity } from '../criu/types';
import type { ActivityDeps } from './deps';
import { permanentFailure, toActivityFailure } from './failures';
import { StagingLayout, dirBytes, exists, readJson, writeJsonAtomic } from './staging';
import type {
  CleanInput,
  CommitInput,
  CommitResult,
  DiscardInput,
  DownloadInput,
  DownloadResult,
  FinalDumpInput,
  HostCapabilities,
  LayerDump,
  LayerStepInput,
  ResolvePidInput,
  RestoreInput,
  RestoreOutcome,
  UploadInput,
  UploadResult,
  WarmChain,
  WarmLookup,
  WarmLookupInput,
  WarmRecordInput,
} from './types';

type WarmRecordFile = { formatVersion: 1; chains: Record<string, WarmChain> };

/**
 * Runs an activity body and maps its failure to the retry decision (failures.ts). A failure
 * caused by our own cancellation (an aborted transfer) is reported as the cancellation it is.
 */
async function mapped<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (cancellationSignal().aborted && !(err instanceof CancelledFailure)) {
      throw new CancelledFailure(`cancelled: ${(err as Error)?.message ?? String(err)}`, undefined, err instanceof Error ? err : undefined);
    }
    throw toActivityFailure(err);
  }
}

export function createActivities(deps: ActivityDeps) {
  const staging = new StagingLayout(deps.stagingDir);
  const now = deps.now ?? Date.now;
  const beatEvery = deps.heartbeatIntervalMs ?? 5000;

  /** Heartbeats while a single long call (a CRIU dump) runs, so a dead worker or a cancel is seen. */
  async function whileBeating<T>(details: unknown, work: Promise<T>): Promise<T> {
    heartbeat(details);
    const timer = setInterval(() => heartbeat(details), beatEvery);
    try {
      return await work;
    } finally {
      clearInterval(timer);
    }
  }

  function cancelledNow(): boolean {
    return cancellationSignal().aborted;
  }

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
    await fs.mkdir(dir, { recursive: true });
    const parentDir = input.parent ? staging.inside(input.parent.imagesDir) : undefined;
    const startedAtMs = now();
    const request = {
      pid: input.pid,
      imagesDir: dir,
      ...(parentDir ? { prevImagesDir: parentDir } : {}),
      expectedIdentity: input.expectedIdentity,
    };
    const result = await whileBeating(
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
    if (dump.leftRunning && cancelledNow()) {
      await staging.remove(dir);
      throw new CancelledFailure(`${kind} of layer ${input.index} cancelled; its images were removed, the process keeps running`);
    }
    await writeJsonAtomic(marker, dump);
    return dump;
  }

  async function readWarmFile(): Promise<WarmRecordFile> {
    return (await readJson<WarmRecordFile>(staging.warmRecord())) ?? { formatVersion: 1, chains: {} };
  }

  return {
    async checkHost(): Promise<HostCapabilities> {
      return mapped(async () => {
        const check = await deps.criu.check();
        return { host: deps.host, criuVersion: check.version, features: check.features, kernel: deps.kernel, pageSize: deps.pageSize };
      });
    },

    async identifyProcess(input: { pid: number }): Promise<ProcessIdentity> {
      return mapped(() => deps.criu.identify(input.pid));
    },

    async resolvePid(input: ResolvePidInput): Promise<number> {
      return mapped(async () => {
        if (input.pid !== undefined) return input.pid;
        const file = input.pidFile ?? '';
        let text: string;
        try {
          text = await fs.readFile(file, 'utf8');
        } catch (err) {
          throw permanentFailure('PidFileUnreadable', `cannot read pid file ${file} on host ${deps.host}: ${(err as Error).message}; check the schedule's --pid-file`);
        }
        const pid = Number(text.trim());
        if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(pid) || pid <= 1) {
          throw permanentFailure('PidFileUnreadable', `pid file ${file} on host ${deps.host} does not hold a pid (got ${JSON.stringify(text.trim().slice(0, 40))})`);
        }
        return pid;
      });
    },

    async preDumpLayer(input: LayerStepInput): Promise<LayerDump> {
      return mapped(() => dumpStep(input, 'pre-dump', true));
    },

    async dumpLayer(input: FinalDumpInput): Promise<LayerDump> {
      return mapped(() => dumpStep(input, 'dump', input.leaveRunning));
    },

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
        return { index: layer.index, record, bytes: record.bytes, alreadyStored: bytesSent === 0 && record.bytes > 0, startedAtMs, durationMs: now() - startedAtMs };
      });
    },

    async commitCheckpoint(input: CommitInput): Promise<CommitResult> {
      return mapped(async () => {
        const startedAtMs = now();
        const r = await deps.store.commit(input.checkpointId, input.layers, input.baseLayers);
        return { checkpointId: input.checkpointId, layers: r.layers, complete: r.complete, startedAtMs, durationMs: now() - startedAtMs };
      });
    },

    async downloadChain(input: DownloadInput): Promise<DownloadResult> {
      return mapped(async () => {
        const dir = staging.downloadDir(input.checkpointId, input.downloadId);
        const keepPresent = input.keepPresent === true;
        // Without keepPresent a clean pull is simpler to trust than the leftovers of an earlier attempt.
        if (!keepPresent) await staging.remove(dir);
        await fs.mkdir(dir, { recursive: true });
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

    async restoreProcess(input: RestoreInput): Promise<RestoreOutcome> {
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
        const r = await whileBeating({ stage: 'restore' }, deps.criu.restore({ imagesDir }));
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

    async readWarmChain(input: WarmLookupInput): Promise<WarmLookup> {
      return mapped(async () => {
        const chain = (await readWarmFile()).chains[String(input.pid)];
        if (!chain) return { chain: null, status: 'none' };
        const same = chain.process.startTime === input.identity.startTime && chain.process.bootId === input.identity.bootId;
        if (!same) return { chain: null, status: 'process-changed' };
        for (const layer of chain.layers) {
          if (!(await exists(layer.imagesDir))) return { chain: null, status: 'layers-missing' };
        }
        return { chain, status: 'found' };
      });
    },

    async recordWarmChain(input: WarmRecordInput): Promise<void> {
      return mapped(async () => {
        const file = await readWarmFile();
        file.chains[String(input.chain.process.pid)] = input.chain;
        await writeJsonAtomic(staging.warmRecord(), file);
      });
    },
  };
}

export type FerryActivities = ReturnType<typeof createActivities>;
export type { ActivityDeps, CriuPort, StorePort } from './deps';
