/**
 * Pulls a checkpoint's chain into local images dirs, as CRIU restores them.
 *
 * Trust rules: an incomplete manifest is refused unless asked for; a downloaded file appears only
 * after its SHA-256 matched the manifest (download.ts); a layer dir appears only once all its
 * files did.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { CheckpointIncomplete, EncryptionKeyMismatch, LocalLayerInvalid, UnencryptedLayerRefused } from '../core';
import type { BandwidthLimit } from './bandwidth';
import type { BlobCipher } from './blob-cipher';
import { BufferPool } from './buffer-pool';
import { downloadBlob, type DownloadContext } from './download';
import { listLayerFiles, mapLimit, sha256File } from './local-files';
import type { ManifestStore } from './manifest-store';
import type { StoreBucket } from './store-bucket';
import { linkedController, progressReporter, stopOthersOnFailure } from './transfers';
import type { ChainEntry, LayerFile, PulledChain, PullOptions } from './types';

export interface PullSettings {
  partSize: number;
  concurrency: number;
  cipher: BlobCipher | null;
  /** Parallel ranged GETs for blobs larger than one part; undefined decides by the endpoint. */
  rangedDownloads: boolean | undefined;
  /** The store's bandwidth cap (shared with uploads), if any. */
  limit?: BandwidthLimit;
}

/** CRIU finds a layer's parent through a relative `parent` link to the layer dir before it. */
function linkParent(dir: string, position: number): Promise<void> {
  return symlink(`../layer-${position - 1}`, path.join(dir, 'parent'));
}

/**
 * Before anything is downloaded: every encrypted layer needs the configured key, and with a key
 * configured a plaintext layer is refused unless allowed. The manifest itself is not
 * authenticated, so someone able to write the bucket could otherwise swap an encrypted layer for
 * a plaintext one of their own making.
 */
function checkChainKeys(checkpointId: string, chain: ChainEntry[], cipher: BlobCipher | null, allowUnencrypted: boolean): void {
  for (const entry of chain) {
    const enc = entry.layer.encryption;
    if (enc) {
      if (!cipher || cipher.keyId !== enc.keyId) throw new EncryptionKeyMismatch(entry.checkpointId, enc.keyId, cipher?.keyId ?? null);
    } else if (cipher && !allowUnencrypted) {
      throw new UnencryptedLayerRefused(checkpointId, entry.position);
    }
  }
}

/** Whether `dir` holds exactly the files of the layer (checked by size only when `trustPresent`). */
async function holdsLayer(dir: string, entry: ChainEntry, trustPresent: boolean): Promise<boolean> {
  const files = await listLayerFiles(dir).catch(() => []);
  const expected = new Map(entry.layer.files.map((f) => [f.name, f]));
  let same = files.length === expected.size;
  for (const f of files) {
    if (!same) break;
    const want = expected.get(f.name);
    same = want !== undefined && want.size === f.size && (trustPresent || (await sha256File(f.path)).sha256 === want.sha256);
  }
  return same;
}

/**
 * Which layer dirs are already in place and verified (an interrupted pull left them); removes
 * leftover staging dirs and refuses a target holding anything else.
 */
async function presentLayers(target: string, chain: ChainEntry[], trustPresent: boolean): Promise<Set<number>> {
  const present = new Set<number>();
  for (const name of await readdir(target)) {
    if (name.startsWith('.ferry-pull-')) {
      await rm(path.join(target, name), { recursive: true, force: true });
      continue;
    }
    const m = /^layer-(\d+)$/.exec(name);
    const entry = m ? chain[Number(m[1])] : undefined;
    if (!entry) {
      throw new LocalLayerInvalid(target, `it already holds ${JSON.stringify(name)}; pull into a new or empty directory`);
    }
    const dir = path.join(target, name);
    // A link named layer-N would make the pull verify, link and restore from wherever it points.
    if (!(await lstat(dir)).isDirectory()) throw new LocalLayerInvalid(target, `${name} is not a directory (a symbolic link?); pull into a new or empty directory`);
    if (!(await holdsLayer(dir, entry, trustPresent))) {
      throw new LocalLayerInvalid(target, `${name} exists but does not match checkpoint layer ${entry.position}; pull into a new or empty directory`);
    }
    const parent = await lstat(path.join(dir, 'parent')).catch(() => null);
    if (entry.position > 0 && !parent?.isSymbolicLink()) await linkParent(dir, entry.position);
    present.add(entry.position);
  }
  return present;
}

export class ChainPuller {
  constructor(
    private readonly bucket: StoreBucket,
    private readonly manifests: ManifestStore,
    private readonly settings: PullSettings,
  ) {}

  /**
   * Downloads a checkpoint's chain into intoDir/layer-0 .. layer-N, each with a relative `parent`
   * link to the one before, as CRIU expects. A layer dir appears only once all its files are
   * verified; layer dirs already there from an interrupted pull are re-verified and kept.
   */
  async pull(checkpointId: string, intoDir: string, opts?: PullOptions): Promise<PulledChain> {
    const manifest = await this.manifests.readTrusted(checkpointId);
    if (!manifest.complete && !opts?.allowIncomplete) throw new CheckpointIncomplete(checkpointId);
    const chain = await this.manifests.resolveChain(manifest);
    if (chain.length === 0) throw new CheckpointIncomplete(checkpointId);
    checkChainKeys(checkpointId, chain, this.settings.cipher, Boolean(opts?.allowUnencrypted));
    const target = path.resolve(intoDir);
    await mkdir(target, { recursive: true });
    const present = await presentLayers(target, chain, Boolean(opts?.trustPresent));

    const controller = linkedController(opts?.signal);
    const todo = chain.filter((e) => !present.has(e.position));
    const total = todo.reduce((a, e) => a + e.layer.bytes, 0);
    const onBytes = progressReporter(total, opts);
    const endpoint = await this.bucket.endpoint();
    const layerDirs = chain.map((e) => path.join(target, `layer-${e.position}`));

    const pool = (await this.useRangedDownloads()) ? new BufferPool(this.settings.concurrency, this.settings.partSize) : undefined;
    const ctx: DownloadContext = {
      client: this.bucket.client,
      bucket: this.bucket.name,
      endpoint,
      signal: controller.signal,
      onBytes,
      ...(pool ? { pool } : {}),
      ...(this.settings.limit ? { limit: this.settings.limit } : {}),
    };
    for (const entry of todo) await this.pullLayer(ctx, controller, entry, target, layerDirs[entry.position]);
    return { layerDirs, finalDir: layerDirs[layerDirs.length - 1], downloaded: todo.map((e) => e.position) };
  }

  /** Downloads one layer into a staging dir beside `layerDir` and renames it into place once complete. */
  private async pullLayer(ctx: DownloadContext, controller: AbortController, entry: ChainEntry, target: string, layerDir: string): Promise<void> {
    const cipher = entry.layer.encryption ? this.settings.cipher : null;
    const staging = path.join(target, `.ferry-pull-${entry.position}-${randomBytes(4).toString('hex')}`);
    await mkdir(staging, { mode: 0o700 });
    try {
      if (entry.position > 0) await linkParent(staging, entry.position);
      await mapLimit(entry.layer.files, this.settings.concurrency, stopOthersOnFailure(controller, (f: LayerFile) =>
        downloadBlob(ctx, {
          key: this.bucket.keys.blobOf(f),
          dest: path.join(staging, f.name),
          size: f.size,
          sha256: f.sha256,
          ...(cipher ? { cipher } : {}),
        }),
      ));
      await rename(staging, layerDir);
    } catch (err) {
      controller.abort(err);
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
  }

  /** Ranged GETs pay off over a network; on loopback one stream per file is as fast and costs less CPU. */
  private async useRangedDownloads(): Promise<boolean> {
    if (this.settings.rangedDownloads !== undefined) return this.settings.rangedDownloads;
    const host = new URL((await this.bucket.endpoint()).replace(/^AWS S3.*$/, 'https://s3.amazonaws.com')).hostname;
    return !['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host);
  }
}
