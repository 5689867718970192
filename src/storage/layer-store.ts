/**
 * The layer store: checkpoints as chains of CRIU image layers in an S3-compatible bucket.
 * Key layout in keys.ts, manifest rules in manifest.ts, byte moving in upload.ts / download.ts.
 *
 * Trust rules:
 * - A manifest says `complete: true` only after every object it needs was checked present with
 *   the right size and SHA-256 (writeManifest refuses otherwise).
 * - Readers refuse incomplete manifests unless asked, and expose a downloaded file only after
 *   its SHA-256 matched the manifest.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rename, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import {
  CheckpointIncomplete,
  CheckpointInUse,
  CheckpointNotFound,
  ChecksumMismatch,
  EncryptionKeyMismatch,
  UnencryptedLayerRefused,
  LocalLayerInvalid,
  ManifestInvalid,
  ObjectMissing,
  isCheckpointNotFound,
  isObjectMissing,
} from './errors';
import { KeyLayout, isValidCheckpointId, CHECKPOINT_ID_RULE } from './keys';
import { formatVersionFor, validateManifest } from './manifest';
import { BlobCipher, ENCRYPTION_SCHEME, ciphertextSize } from './blob-cipher';
import { loadEncryptionKey, type EncryptionKey } from '../config/encryption-key';
import { describeEndpoint, httpStatus, errorCode, translateS3Error } from './s3-errors';
import { DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, KEY_ID_METADATA, SHA256_METADATA, uploadBlob } from './upload';
import { BufferPool } from './buffer-pool';
import { hashForUpload, partSizeFor } from './upload-hashes';
import type { BlobUpload, ServerSideEncryption } from './upload-request';
import { downloadBlob } from './download';
import { blobsToSweep, planRetention, referencedBlobs } from './gc-plan';
import { listLayerFiles, mapLimit, sha256File } from './local-files';
import type {
  ChainEntry,
  CheckpointDescription,
  CheckpointManifest,
  CheckpointSummary,
  DeleteResult,
  GcOptions,
  GcResult,
  LayerFile,
  LayerInput,
  LayerRecord,
  PulledChain,
  PullOptions,
  TransferOptions,
  TransferReport,
} from './types';

export interface LayerStoreOptions {
  client: S3Client;
  bucket: string;
  prefix: string;
  /** Host name recorded in layers when the caller gives none (default os.hostname()). */
  host?: string;
  /** Size of one multipart part and of one transfer buffer (default 16 MiB). */
  partSize?: number;
  /** Parts (and buffers) in flight at once; memory use is about concurrency x partSize (default 4). */
  concurrency?: number;
  /**
   * Fetch blobs larger than one part as parallel ranged GETs (default: yes, except for a loopback
   * endpoint, where one stream per file is as fast and parallel requests only cost CPU; measured
   * in bench/results/storage.md).
   */
  rangedDownloads?: boolean;
  /**
   * Client-side encryption key: every layer put is encrypted with it, and encrypted layers can be
   * pulled. undefined (the default) loads the configured key (FERRY_ENCRYPTION_KEY_FILE /
   * FERRY_ENCRYPTION_KEY), so encryption is on wherever a key is configured; null turns it off.
   */
  encryptionKey?: EncryptionKey | null;
  /** Plaintext bytes per encrypted segment (default 1 MiB; tests use small ones). */
  segmentSize?: number;
  /** Server-side encryption asked of the store for every object written. */
  sse?: ServerSideEncryption;
}

/** A hashed local file and how it is stored. */
interface PreparedFile extends LayerFile {
  path: string;
  upload: Omit<BlobUpload, 'path'>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
const META_CONCURRENCY = 8;

interface BlobState {
  size: number;
  sha256: string | undefined;
  keyId: string | undefined;
}

/** An AbortSignal that fires when the caller's does, or when we stop the transfer ourselves. */
function linkedController(signal?: AbortSignal): AbortController {
  const controller = new AbortController();
  if (signal) {
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  }
  return controller;
}

function progressReporter(total: number, opts?: TransferOptions): (n: number) => void {
  let done = 0;
  opts?.onProgress?.({ bytesDone: 0, bytesTotal: total });
  return (n: number) => {
    done += n;
    opts?.onProgress?.({ bytesDone: Math.min(done, total), bytesTotal: total });
  };
}

/** The first failing transfer stops its siblings at once (they see the abort and settle). */
function stopOthersOnFailure<T, R>(controller: AbortController, fn: (item: T) => Promise<R>): (item: T) => Promise<R> {
  return async (item: T) => {
    try {
      return await fn(item);
    } catch (err) {
      if (!controller.signal.aborted) controller.abort(err);
      throw err;
    }
  };
}

export class LayerStore {
  readonly client: S3Client;
  readonly bucket: string;
  readonly keys: KeyLayout;
  readonly host: string;
  readonly partSize: number;
  readonly concurrency: number;
  private endpointLabel: Promise<string> | undefined;
  private readonly rangedDownloads: boolean | undefined;
  private readonly cipher: BlobCipher | null;
  private readonly sse: ServerSideEncryption | undefined;

  constructor(opts: LayerStoreOptions) {
    this.client = opts.client;
    this.bucket = opts.bucket;
    this.keys = new KeyLayout(opts.prefix);
    this.host = opts.host ?? os.hostname();
    this.partSize = opts.partSize ?? DEFAULT_PART_SIZE;
    this.concurrency = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY);
    this.rangedDownloads = opts.rangedDownloads;
    const key = opts.encryptionKey === undefined ? loadEncryptionKey() : opts.encryptionKey;
    this.cipher = key ? new BlobCipher(key, opts.segmentSize) : null;
    this.sse = opts.sse;
  }

  /** Id of the key layers are encrypted with, or null when they are stored as plaintext. */
  get encryptionKeyId(): string | null {
    return this.cipher?.keyId ?? null;
  }

  private async useRangedDownloads(): Promise<boolean> {
    if (this.rangedDownloads !== undefined) return this.rangedDownloads;
    const host = new URL((await this.endpoint()).replace(/^AWS S3.*$/, 'https://s3.amazonaws.com')).hostname;
    return !['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host);
  }

  /** scheme://host:port of the store, for messages (never credentials). */
  endpoint(): Promise<string> {
    this.endpointLabel ??= describeEndpoint(this.client);
    return this.endpointLabel;
  }

  private async call<T>(operation: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translateS3Error(err, { bucket: this.bucket, endpoint: await this.endpoint(), operation, key });
    }
  }

  // ---- layers -------------------------------------------------------------------------------

  async putLayer(checkpointId: string, layer: LayerInput, dir: string, opts?: TransferOptions): Promise<LayerRecord> {
    return (await this.putLayerReport(checkpointId, layer, dir, opts)).record;
  }

  /** putLayer, also reporting what was actually sent (the CLI prints it, tests assert on it). */
  async putLayerReport(
    checkpointId: string,
    layer: LayerInput,
    dir: string,
    opts?: TransferOptions,
  ): Promise<{ record: LayerRecord; report: TransferReport }> {
    if (!isValidCheckpointId(checkpointId)) {
      throw new ManifestInvalid(this.keys.manifest('<id>'), `checkpoint id ${JSON.stringify(checkpointId)} is not ${CHECKPOINT_ID_RULE}`);
    }
    if (!Number.isSafeInteger(layer.index) || layer.index < 0) throw new LocalLayerInvalid(dir, `layer index ${layer.index} is not a position`);
    const local = await listLayerFiles(dir);
    const controller = linkedController(opts?.signal);
    const hashed: PreparedFile[] = [];
    const cipher = this.cipher;
    for (const f of local) {
      const h = await hashForUpload(f.path, f.size, this.partSize, controller.signal, cipher?.segmentSize ?? 0).catch((err: unknown) => {
        throw new LocalLayerInvalid(dir, `${f.name} cannot be read (${(err as Error).message})`, { cause: err });
      });
      if (h.size !== f.size) throw new LocalLayerInvalid(dir, `${f.name} changed size while it was being read; do not modify images dirs during a push`);
      if (!cipher) {
        hashed.push({
          name: f.name,
          size: h.size,
          sha256: h.sha256,
          path: f.path,
          upload: { key: this.keys.blob(h.sha256), size: h.size, sha256: h.sha256, partSize: h.partSize, partCrc32: h.partCrc32, metadata: { [SHA256_METADATA]: h.sha256 } },
        });
        continue;
      }
      const blob = cipher.blobName(h.sha256);
      const stored = cipher.ciphertextSize(h.size);
      hashed.push({
        name: f.name,
        size: h.size,
        sha256: h.sha256,
        blob,
        path: f.path,
        upload: {
          key: this.keys.encryptedBlob(blob),
          size: stored,
          sha256: h.sha256,
          partSize: stored > this.partSize ? partSizeFor(stored, this.partSize) : 0,
          partCrc32: [],
          // The plaintext hash is deliberately not in the metadata: it would reveal equal files.
          metadata: { [KEY_ID_METADATA]: cipher.keyId },
          encrypted: { obj: cipher.object(h.sha256), plainSize: h.size, segmentCrc32: h.segmentCrc32 },
        },
      });
    }
    const files: LayerFile[] = hashed.map(({ name, size, sha256, blob }) => (blob !== undefined ? { name, size, sha256, blob } : { name, size, sha256 }));
    const bytes = files.reduce((a, f) => a + f.size, 0);
    const report: TransferReport = { bytesTotal: bytes, bytesSent: 0, filesSkipped: 0, partsSent: 0, partsReused: 0 };
    const onBytes = progressReporter(bytes, opts);
    await this.uploadFiles(hashed, controller, onBytes, report);
    const record: LayerRecord = {
      index: layer.index,
      kind: layer.kind,
      parentIndex: layer.parentIndex,
      files,
      bytes,
      criuVersion: layer.criuVersion,
      kernel: layer.kernel,
      host: layer.host || this.host,
      process: layer.process,
      stats: layer.stats,
      storedAt: new Date().toISOString(),
      ...(cipher ? { encryption: { scheme: ENCRYPTION_SCHEME, keyId: cipher.keyId, segmentSize: cipher.segmentSize } } : {}),
    };
    return { record, report };
  }

  private async uploadFiles(
    files: PreparedFile[],
    controller: AbortController,
    onBytes: (n: number) => void,
    report: TransferReport,
  ): Promise<void> {
    // Two files with the same bytes are one blob: send it once, count it for both.
    const unique = new Map<string, PreparedFile>();
    for (const f of files) {
      if (unique.has(f.sha256)) onBytes(f.size);
      else unique.set(f.sha256, f);
    }
    // Files too big for 10,000 parts of partSize get larger parts; the buffers must hold them.
    const pool = new BufferPool(this.concurrency, Math.max(this.partSize, ...files.map((f) => f.upload.partSize)));
    const endpoint = await this.endpoint();
    try {
      await mapLimit([...unique.values()], this.concurrency, stopOthersOnFailure(controller, async (f) => {
        const key = f.upload.key;
        const state = await this.headBlob(key, controller.signal);
        if (state && this.sameBlob(state, f.upload)) {
          report.filesSkipped++;
          onBytes(f.size);
          return;
        }
        // Progress counts plaintext bytes; an encrypted object is a little larger, so scale it.
        const scale = f.size / f.upload.size;
        const blobBytes = f.upload.encrypted ? (n: number): void => onBytes(Math.round(n * scale)) : onBytes;
        const out = await uploadBlob(
          { client: this.client, bucket: this.bucket, endpoint, pool, signal: controller.signal, onBytes: blobBytes, ...(this.sse ? { sse: this.sse } : {}) },
          { ...f.upload, path: f.path },
        );
        report.bytesSent += out.bytesSent;
        report.partsSent += out.partsSent;
        report.partsReused += out.partsReused;
      }));
    } catch (err) {
      controller.abort(err);
      throw err;
    }
  }

  /** A stored object stands for the blob we would upload (same size, same hash or same key). */
  private sameBlob(state: BlobState, upload: Omit<BlobUpload, 'path'>): boolean {
    if (state.size !== upload.size) return false;
    // An encrypted blob's name is a keyed hash of the plaintext, so name + size + key id suffice.
    return upload.encrypted ? state.keyId === upload.metadata[KEY_ID_METADATA] : state.sha256 === upload.sha256;
  }

  /** Size and recorded SHA-256 of a stored blob, or null if it is not there. */
  private async headBlob(key: string, signal?: AbortSignal): Promise<BlobState | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal });
      return { size: out.ContentLength ?? -1, sha256: out.Metadata?.[SHA256_METADATA], keyId: out.Metadata?.[KEY_ID_METADATA] };
    } catch (err) {
      const code = errorCode(err);
      if (httpStatus(err) === 404 && code !== 'NoSuchBucket') {
        // HEAD has no body, so a missing bucket also answers a bare 404: tell them apart.
        await this.checkBucket();
        return null;
      }
      throw translateS3Error(err, { bucket: this.bucket, endpoint: await this.endpoint(), operation: `check of ${key}`, key });
    }
  }

  private bucketChecked = false;
  private async checkBucket(): Promise<void> {
    if (this.bucketChecked) return;
    await this.call('listing of the bucket', undefined, () =>
      this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, MaxKeys: 1, Prefix: this.keys.checkpointsPrefix })),
    );
    this.bucketChecked = true;
  }

  // ---- manifests ----------------------------------------------------------------------------

  async readManifest(checkpointId: string): Promise<CheckpointManifest> {
    const key = this.keys.manifest(isValidCheckpointId(checkpointId) ? checkpointId : '<invalid>');
    if (!isValidCheckpointId(checkpointId)) throw new CheckpointNotFound(checkpointId, key);
    let text: string;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if ((out.ContentLength ?? 0) > MAX_MANIFEST_BYTES) throw new ManifestInvalid(key, `it is ${out.ContentLength} bytes, too large for a manifest`);
      text = (await out.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      const typed = translateS3Error(err, { bucket: this.bucket, endpoint: await this.endpoint(), operation: `reading ${key}`, key });
      if (isObjectMissing(typed)) throw new CheckpointNotFound(checkpointId, key, { cause: err });
      throw typed;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new ManifestInvalid(key, 'it is not valid JSON', { cause: err });
    }
    return validateManifest(key, parsed, checkpointId);
  }

  /**
   * Stores a manifest. A manifest marked complete is written only after every object of its
   * chain (base layers included) was found with the recorded size and SHA-256.
   */
  async writeManifest(manifest: CheckpointManifest): Promise<void> {
    const key = this.keys.manifest(isValidCheckpointId(manifest.checkpointId) ? manifest.checkpointId : '<invalid>');
    // Callers build manifests with formatVersion 1; encrypted layers need 2 (older readers refuse it).
    const valid = validateManifest(key, { ...JSON.parse(JSON.stringify(manifest)), formatVersion: formatVersionFor(manifest.layers) });
    if (valid.complete) {
      const chain = await this.resolveChain(valid);
      await this.verifyChainObjects(chain);
    }
    const body = Buffer.from(JSON.stringify(valid, null, 2) + '\n');
    await this.call(`writing ${key}`, key, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: 'application/json',
          ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
        }),
      ),
    );
  }

  /** Checks every object of a chain is stored with its recorded size and SHA-256 (metadata only, no download). */
  async verifyChainObjects(chain: ChainEntry[]): Promise<void> {
    const wanted = new Map<string, { file: LayerFile; layer: LayerRecord }>();
    for (const entry of chain) for (const f of entry.layer.files) wanted.set(this.keys.blobOf(f), { file: f, layer: entry.layer });
    await mapLimit([...wanted.entries()], META_CONCURRENCY, async ([key, { file: f, layer }]) => {
      const state = await this.headBlob(key);
      if (!state) throw new ObjectMissing(key, this.bucket, `file ${f.name}, ${f.size} bytes`);
      const enc = layer.encryption;
      if (enc) {
        const size = ciphertextSize(f.size, enc.segmentSize);
        if (state.size !== size || (state.keyId !== undefined && state.keyId !== enc.keyId)) {
          throw new ChecksumMismatch(
            key,
            `an object of ${size} bytes encrypted with key ${enc.keyId}`,
            `${state.size} bytes, key ${state.keyId ?? 'none recorded'}`,
            'the stored object is not the encrypted file the manifest records; push the layer again',
          );
        }
        return;
      }
      if (state.size !== f.size || state.sha256 !== f.sha256) {
        throw new ChecksumMismatch(
          key,
          `${f.sha256} (${f.size} bytes)`,
          `${state.sha256 ?? 'none recorded'} (${state.size} bytes)`,
          'the stored object is not the file the manifest records; push the layer again',
        );
      }
    });
  }

  /** The whole chain of a checkpoint, base layers of other checkpoints first. */
  async resolveChain(manifest: CheckpointManifest, seen: string[] = []): Promise<ChainEntry[]> {
    const key = this.keys.manifest(manifest.checkpointId);
    if (seen.includes(manifest.checkpointId) || seen.length > 64) {
      throw new ManifestInvalid(key, `its base layers form a cycle (${[...seen, manifest.checkpointId].join(' -> ')})`);
    }
    const chain: ChainEntry[] = [];
    const baseChains = new Map<string, ChainEntry[]>();
    for (const b of manifest.baseLayers) {
      let baseChain = baseChains.get(b.checkpointId);
      if (!baseChain) {
        let baseManifest: CheckpointManifest;
        try {
          baseManifest = await this.readManifest(b.checkpointId);
        } catch (err) {
          if (isCheckpointNotFound(err)) {
            throw new ManifestInvalid(key, `its base checkpoint ${JSON.stringify(b.checkpointId)} does not exist`, { cause: err });
          }
          throw err;
        }
        baseChain = await this.resolveChain(baseManifest, [...seen, manifest.checkpointId]);
        baseChains.set(b.checkpointId, baseChain);
      }
      const entry = baseChain[b.index];
      if (!entry) throw new ManifestInvalid(key, `base checkpoint ${JSON.stringify(b.checkpointId)} has no layer at position ${b.index}`);
      chain.push({ ...entry, position: b.index });
    }
    for (const layer of manifest.layers) chain.push({ position: layer.index, checkpointId: manifest.checkpointId, layer });
    return chain;
  }

  // ---- download -----------------------------------------------------------------------------

  /**
   * Downloads a checkpoint's chain into intoDir/layer-0 .. layer-N, each with a relative `parent`
   * link to the one before, as CRIU expects. A layer dir appears only once all its files are
   * verified; layer dirs already there from an interrupted pull are re-verified and kept.
   */
  async pullChain(checkpointId: string, intoDir: string, opts?: PullOptions): Promise<PulledChain> {
    const manifest = await this.readManifest(checkpointId);
    if (!manifest.complete && !opts?.allowIncomplete) throw new CheckpointIncomplete(checkpointId);
    const chain = await this.resolveChain(manifest);
    if (chain.length === 0) throw new CheckpointIncomplete(checkpointId);
    this.checkChainKeys(checkpointId, chain, Boolean(opts?.allowUnencrypted));
    const target = path.resolve(intoDir);
    await mkdir(target, { recursive: true });
    const present = await this.checkPullTarget(target, chain, Boolean(opts?.trustPresent));

    const controller = linkedController(opts?.signal);
    const todo = chain.filter((e) => !present.has(e.position));
    const total = todo.reduce((a, e) => a + e.layer.bytes, 0);
    const onBytes = progressReporter(total, opts);
    const endpoint = await this.endpoint();
    const layerDirs = chain.map((e) => path.join(target, `layer-${e.position}`));

    const pool = (await this.useRangedDownloads()) ? new BufferPool(this.concurrency, this.partSize) : undefined;
    for (const entry of todo) {
      const staging = path.join(target, `.ferry-pull-${entry.position}-${randomBytes(4).toString('hex')}`);
      await mkdir(staging, { mode: 0o700 });
      try {
        if (entry.position > 0) await symlink(`../layer-${entry.position - 1}`, path.join(staging, 'parent'));
        await mapLimit(entry.layer.files, this.concurrency, stopOthersOnFailure(controller, (f: LayerFile) =>
          downloadBlob(
            { client: this.client, bucket: this.bucket, endpoint, signal: controller.signal, onBytes, ...(pool ? { pool } : {}) },
            {
              key: this.keys.blobOf(f),
              dest: path.join(staging, f.name),
              size: f.size,
              sha256: f.sha256,
              ...(entry.layer.encryption && this.cipher ? { cipher: this.cipher } : {}),
            },
          ),
        ));
        await rename(staging, layerDirs[entry.position]);
      } catch (err) {
        controller.abort(err);
        await rm(staging, { recursive: true, force: true });
        throw err;
      }
    }
    return { layerDirs, finalDir: layerDirs[layerDirs.length - 1], downloaded: todo.map((e) => e.position) };
  }

  /**
   * Before anything is downloaded: every encrypted layer needs the configured key, and with a key
   * configured a plaintext layer is refused unless allowed. The manifest itself is not
   * authenticated, so someone able to write the bucket could otherwise swap an encrypted layer for
   * a plaintext one of their own making.
   */
  private checkChainKeys(checkpointId: string, chain: ChainEntry[], allowUnencrypted: boolean): void {
    for (const entry of chain) {
      const enc = entry.layer.encryption;
      if (enc) {
        if (!this.cipher || this.cipher.keyId !== enc.keyId) throw new EncryptionKeyMismatch(entry.checkpointId, enc.keyId, this.cipher?.keyId ?? null);
      } else if (this.cipher && !allowUnencrypted) {
        throw new UnencryptedLayerRefused(checkpointId, entry.position);
      }
    }
  }

  /**
   * Which layer dirs are already in place and verified (by size only when `trustPresent`); refuses
   * a target holding anything else.
   */
  private async checkPullTarget(target: string, chain: ChainEntry[], trustPresent: boolean): Promise<Set<number>> {
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
      const files = await listLayerFiles(dir).catch(() => []);
      const expected = new Map(entry.layer.files.map((f) => [f.name, f]));
      let same = files.length === expected.size;
      for (const f of files) {
        if (!same) break;
        const want = expected.get(f.name);
        same = want !== undefined && want.size === f.size && (trustPresent || (await sha256File(f.path)).sha256 === want.sha256);
      }
      if (!same) throw new LocalLayerInvalid(target, `${name} exists but does not match checkpoint layer ${entry.position}; pull into a new or empty directory`);
      const parent = await lstat(path.join(dir, 'parent')).catch(() => null);
      if (entry.position > 0 && !parent?.isSymbolicLink()) await symlink(`../layer-${entry.position - 1}`, path.join(dir, 'parent'));
      present.add(entry.position);
    }
    return present;
  }

  // ---- catalogue ----------------------------------------------------------------------------

  private async listKeys(prefix: string): Promise<Array<{ key: string; size: number; lastModified: Date | undefined }>> {
    const out: Array<{ key: string; size: number; lastModified: Date | undefined }> = [];
    let token: string | undefined;
    do {
      const page = await this.call(`listing of ${prefix}`, undefined, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token })),
      );
      for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  /** Every manifest in the store; unreadable ones come back as problems, not as failures. */
  private async allManifests(): Promise<Array<{ id: string; manifest?: CheckpointManifest; problem?: string }>> {
    const ids = (await this.listKeys(this.keys.checkpointsPrefix))
      .map((o) => this.keys.checkpointIdOf(o.key))
      .filter((id): id is string => id !== null);
    return mapLimit(ids, META_CONCURRENCY, async (id) => {
      try {
        return { id, manifest: await this.readManifest(id) };
      } catch (err) {
        if ((err as Error).name === 'ManifestInvalid' || isCheckpointNotFound(err)) return { id, problem: (err as Error).message };
        throw err;
      }
    });
  }

  async list(): Promise<CheckpointSummary[]> {
    const all = await this.allManifests();
    const summaries = all.map(({ id, manifest, problem }): CheckpointSummary => {
      if (!manifest) return { checkpointId: id, complete: false, createdAt: '', completedAt: null, layers: 0, bytes: 0, baseCheckpoints: [], problem };
      return {
        checkpointId: id,
        complete: manifest.complete,
        createdAt: manifest.createdAt,
        completedAt: manifest.completedAt,
        layers: manifest.baseLayers.length + manifest.layers.length,
        bytes: manifest.layers.reduce((a, l) => a + l.bytes, 0),
        baseCheckpoints: [...new Set(manifest.baseLayers.map((b) => b.checkpointId))],
      };
    });
    return summaries.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.checkpointId.localeCompare(b.checkpointId)));
  }

  async describe(checkpointId: string): Promise<CheckpointDescription> {
    const manifest = await this.readManifest(checkpointId);
    const chain = await this.resolveChain(manifest);
    const all = await this.allManifests();
    const usedBy = all.filter((m) => m.manifest?.baseLayers.some((b) => b.checkpointId === checkpointId)).map((m) => m.id);
    return { manifest, chain, chainBytes: chain.reduce((a, e) => a + e.layer.bytes, 0), usedBy };
  }

  /**
   * Deletes a checkpoint: its manifest first (from then on it no longer exists for readers),
   * then the blobs no other checkpoint uses. Refused while another checkpoint builds on it.
   */
  async delete(checkpointId: string): Promise<DeleteResult> {
    const manifest = await this.readManifest(checkpointId);
    const all = await this.allManifests();
    const others = all.filter((m) => m.id !== checkpointId);
    const usedBy = others.filter((m) => m.manifest?.baseLayers.some((b) => b.checkpointId === checkpointId)).map((m) => m.id);
    if (usedBy.length > 0) throw new CheckpointInUse(checkpointId, usedBy);
    if (others.some((m) => !m.manifest)) {
      // An unreadable manifest might reference our blobs: keep them, remove only the manifest.
      await this.deleteKey(this.keys.manifest(checkpointId));
      return { checkpointId, blobsDeleted: 0, bytesFreed: 0 };
    }
    const stillUsed = referencedBlobs(others, [], (f) => this.keys.blobOf(f));
    await this.deleteKey(this.keys.manifest(checkpointId));
    const mine = new Map<string, number>();
    for (const l of manifest.layers) for (const f of l.files) if (!stillUsed.has(this.keys.blobOf(f))) mine.set(this.keys.blobOf(f), f.size);
    await mapLimit([...mine.keys()], META_CONCURRENCY, (key) => this.deleteKey(key));
    return { checkpointId, blobsDeleted: mine.size, bytesFreed: [...mine.values()].reduce((a, b) => a + b, 0) };
  }

  private async deleteKey(key: string): Promise<void> {
    await this.call(`deleting ${key}`, key, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
  }

  /**
   * Keeps the `keepLast` most recent complete checkpoints plus every checkpoint they build on,
   * removes the rest (incomplete ones only once older than the grace period), then sweeps blobs
   * no kept manifest references and multipart uploads abandoned for longer than the grace period.
   * Unreadable manifests are never deleted, and while one exists no blob is swept.
   */
  async gc(opts: GcOptions): Promise<GcResult> {
    if (!Number.isSafeInteger(opts.keepLast) || opts.keepLast < 0) throw new RangeError(`keepLast must be a whole number >= 0, got ${opts.keepLast}`);
    const graceMs = opts.graceMs ?? DAY_MS;
    const now = Date.now();
    const dryRun = Boolean(opts.dryRun);
    const all = await this.allManifests();
    const { kept, keptAsBase, deleted } = planRetention(all, opts.keepLast, now, graceMs);
    const referenced = referencedBlobs(all, deleted, (f) => this.keys.blobOf(f));
    // While a manifest is unreadable, nobody can tell which blobs it needs: sweep none.
    const canSweep = all.every((m) => m.manifest);
    const blobs = canSweep ? await this.listKeys(this.keys.blobsRoot) : [];
    const sweep = blobsToSweep(blobs, referenced, (key) => this.keys.isBlobKey(key), now, graceMs);
    const stale = await this.staleUploads(now, graceMs);

    if (!dryRun) {
      await mapLimit(deleted, META_CONCURRENCY, (id) => this.deleteKey(this.keys.manifest(id)));
      await mapLimit(sweep, META_CONCURRENCY, (b) => this.deleteKey(b.key));
      await mapLimit(stale, META_CONCURRENCY, (u) =>
        this.call(`aborting the upload of ${u.key}`, u.key, () =>
          this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.key, UploadId: u.uploadId })),
        ),
      );
    }
    return {
      kept: [...kept].sort(),
      keptAsBase: [...keptAsBase].sort(),
      deleted: deleted.sort(),
      blobsDeleted: sweep.length,
      bytesFreed: sweep.reduce((a, b) => a + b.size, 0),
      uploadsAborted: stale.length,
      dryRun,
    };
  }

  private async staleUploads(now: number, graceMs: number): Promise<Array<{ key: string; uploadId: string }>> {
    const out: Array<{ key: string; uploadId: string }> = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.call('listing of unfinished uploads', undefined, () =>
        this.client.send(
          new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.keys.blobsRoot, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
        ),
      );
      for (const u of page.Uploads ?? []) {
        if (u.Key && u.UploadId && u.Initiated && now - u.Initiated.getTime() >= graceMs) out.push({ key: u.Key, uploadId: u.UploadId });
      }
      if (!page.IsTruncated) break;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
    return out;
  }
}
