/**
 * `ferry push`: uploads a local chain of CRIU images dirs as one checkpoint. Follows the
 * `parent` links from the given (final) dir down to the first layer, stores the layers in order,
 * and commits the manifest as complete only once all of them are stored and verified.
 *
 * The manifest is rewritten (incomplete) after each layer, so an interrupted push shows up in
 * `ferry checkpoints ls` as incomplete and a retry of the same command continues from it: stored
 * blobs and stored multipart parts are not sent again.
 */
import { readlink, realpath, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ProcessIdentity } from '../criu/types';
import { CheckpointExists, LocalLayerInvalid, isError, CheckpointNotFound } from '../core';
import type { LayerStore } from './layer-store';
import { readLocalLayerInfo } from './layer-info';
import { listLayerFiles } from './local-files';
import { formatVersionFor, newManifest } from './manifest';
import { addSent } from './transfers';
import type { CheckpointManifest, LayerRecord, TransferOptions, TransferReport } from './types';

export interface PushOptions extends TransferOptions {
  /** Recorded in every layer; default "unknown" (images do not name the CRIU that wrote them). */
  criuVersion?: string;
  /** Default: this machine's kernel release (push runs where the dump ran). */
  kernel?: string;
  host?: string;
  /** Identity of the dumped process, if the caller knows it; otherwise the pid from pstree.img. */
  process?: ProcessIdentity;
}

export interface PushResult {
  manifest: CheckpointManifest;
  /** Local dirs in chain order, first layer first. */
  dirs: string[];
  report: TransferReport;
}

const MAX_CHAIN = 1000;

/** The chain ending at finalDir, first layer first, following CRIU's `parent` symlinks. */
export async function localChain(finalDir: string): Promise<string[]> {
  const dirs: string[] = [];
  const seen = new Set<string>();
  let dir = path.resolve(finalDir);
  for (;;) {
    let real: string;
    try {
      real = await realpath(dir);
      if (!(await stat(real)).isDirectory()) throw new Error('not a directory');
    } catch (err) {
      const what = dirs.length === 0 ? 'it does not exist or is not a directory' : `the parent link of ${dirs[0]} points at it, but it is missing`;
      throw new LocalLayerInvalid(dir, what, { cause: err });
    }
    if (seen.has(real) || dirs.length >= MAX_CHAIN) throw new LocalLayerInvalid(dir, 'its parent links form a loop');
    seen.add(real);
    dirs.unshift(real);
    let link: string;
    try {
      link = await readlink(path.join(real, 'parent'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') break;
      if (code === 'EINVAL') throw new LocalLayerInvalid(real, '`parent` is not a symlink to the previous images dir', { cause: err });
      throw err;
    }
    dir = path.resolve(real, link);
  }
  return dirs;
}

function unknownProcess(pid: number | null): ProcessIdentity {
  return { pid: pid ?? 0, startTime: 0, bootId: '', comm: '' };
}

function sameFiles(a: LayerRecord, b: LayerRecord): boolean {
  return a.files.length === b.files.length && a.files.every((f, i) => f.name === b.files[i].name && f.sha256 === b.files[i].sha256);
}

export async function pushLocalChain(store: LayerStore, checkpointId: string, finalDir: string, opts: PushOptions = {}): Promise<PushResult> {
  const dirs = await localChain(finalDir);
  const infos = [];
  let total = 0;
  for (const [i, dir] of dirs.entries()) {
    const info = await readLocalLayerInfo(dir);
    if (info.kind === 'dump' && i !== dirs.length - 1) {
      throw new LocalLayerInvalid(dir, 'it is a full dump (has pstree.img) but another layer builds on it; only the last layer may be a dump');
    }
    total += (await listLayerFiles(dir)).reduce((a, f) => a + f.size, 0);
    infos.push(info);
  }

  let existing: CheckpointManifest | null = null;
  try {
    existing = await store.readManifest(checkpointId);
  } catch (err) {
    if (!isError(err, CheckpointNotFound)) throw err;
  }
  if (existing?.baseLayers.length) throw new CheckpointExists(checkpointId, 'it builds on another checkpoint and cannot be replaced by a push');

  const manifest = existing && !existing.complete ? { ...existing, layers: [] as LayerRecord[] } : newManifest(checkpointId);
  if (!existing) await store.writeManifest(manifest);

  let done = 0;
  const report: TransferReport = { bytesTotal: total, bytesSent: 0, filesSkipped: 0, partsSent: 0, partsReused: 0 };
  const finalPid = infos[infos.length - 1].pid;
  for (const [i, dir] of dirs.entries()) {
    const info = infos[i];
    const { record, report: r } = await store.putLayerReport(
      checkpointId,
      {
        index: i,
        kind: info.kind,
        parentIndex: i === 0 ? null : i - 1,
        criuVersion: opts.criuVersion ?? 'unknown',
        kernel: opts.kernel ?? os.release(),
        host: opts.host ?? store.host,
        process: opts.process ?? unknownProcess(info.pid ?? finalPid),
        stats: info.stats,
      },
      dir,
      {
        signal: opts.signal,
        onProgress: (p) => opts.onProgress?.({ bytesDone: done + p.bytesDone, bytesTotal: total }),
      },
    );
    done += record.bytes;
    addSent(report, r);
    report.filesSkipped += r.filesSkipped;
    if (existing?.complete) {
      // Pushing the same chain again is a no-op; pushing different images under a used id is refused.
      if (!existing.layers[i] || !sameFiles(existing.layers[i], record)) {
        throw new CheckpointExists(checkpointId, `its stored layer ${i} differs from ${dir}`);
      }
      continue;
    }
    manifest.layers.push(record);
    if (i < dirs.length - 1) await store.writeManifest(manifest);
  }
  if (existing?.complete) {
    if (existing.layers.length !== dirs.length) throw new CheckpointExists(checkpointId, `it has ${existing.layers.length} layers, the local chain ${dirs.length}`);
    return { manifest: existing, dirs, report };
  }
  const complete: CheckpointManifest = { ...manifest, formatVersion: formatVersionFor(manifest.layers), complete: true, completedAt: new Date().toISOString() };
  await store.writeManifest(complete);
  return { manifest: complete, dirs, report };
}
