/**
 * Puts one local images dir into the store as a layer: hashes its files, encrypts them when a key
 * is configured, skips blobs already stored, uploads the rest, and returns the layer record the
 * manifest will hold. Writing the manifest is the caller's business.
 */
import { CHECKPOINT_ID_RULE, isValidCheckpointId } from './keys';
import { LocalLayerInvalid, ManifestInvalid } from '../core';
import { DecryptStream, ENCRYPTION_SCHEME, type BlobCipher } from './blob-cipher';
import type { BandwidthLimit } from './bandwidth';
import { BufferPool } from './buffer-pool';
import { listLayerFiles, mapLimit, type LocalFile } from './local-files';
import type { StoreBucket } from './store-bucket';
import { addSent, linkedController, progressReporter, stopOthersOnFailure } from './transfers';
import { KEY_ID_METADATA, SHA256_METADATA, uploadBlob } from './upload';
import { hashForUpload, partSizeFor, type UploadHashes } from './upload-hashes';
import type { BlobUpload, ServerSideEncryption, UploadContext } from './upload-request';
import type { LayerFile, LayerInput, LayerRecord, TransferOptions, TransferReport } from './types';

export interface UploadSettings {
  /** Recorded in layers whose input names no host. */
  host: string;
  partSize: number;
  concurrency: number;
  cipher: BlobCipher | null;
  sse: ServerSideEncryption | undefined;
  /** The store's bandwidth cap (shared with downloads), if any. */
  limit?: BandwidthLimit;
}

/** A hashed local file and how it is stored. */
interface PreparedFile extends LayerFile {
  path: string;
  upload: Omit<BlobUpload, 'path'>;
}


export class LayerUploader {
  constructor(
    private readonly bucket: StoreBucket,
    private readonly settings: UploadSettings,
  ) {}

  async put(checkpointId: string, layer: LayerInput, dir: string, opts?: TransferOptions): Promise<{ record: LayerRecord; report: TransferReport }> {
    if (!isValidCheckpointId(checkpointId)) {
      throw new ManifestInvalid(this.bucket.keys.manifest('<id>'), `checkpoint id ${JSON.stringify(checkpointId)} is not ${CHECKPOINT_ID_RULE}`);
    }
    if (!Number.isSafeInteger(layer.index) || layer.index < 0) throw new LocalLayerInvalid(dir, `layer index ${layer.index} is not a position`);
    const local = await listLayerFiles(dir);
    const controller = linkedController(opts?.signal);
    const prepared = await this.prepare(dir, local, controller.signal);
    const files: LayerFile[] = prepared.map(({ name, size, sha256, blob }) => (blob !== undefined ? { name, size, sha256, blob } : { name, size, sha256 }));
    const bytes = files.reduce((a, f) => a + f.size, 0);
    const report: TransferReport = { bytesTotal: bytes, bytesSent: 0, filesSkipped: 0, partsSent: 0, partsReused: 0 };
    const onBytes = progressReporter(bytes, opts);
    const etags = await this.uploadFiles(prepared, controller, onBytes, report);
    for (const f of files) {
      const etag = etags.get(f.sha256);
      if (etag !== undefined) f.etag = etag;
    }
    return { record: this.record(layer, files, bytes), report };
  }

  private async prepare(dir: string, local: LocalFile[], signal: AbortSignal): Promise<PreparedFile[]> {
    const { cipher, partSize } = this.settings;
    const prepared: PreparedFile[] = [];
    for (const f of local) {
      const h = await hashForUpload(f.path, f.size, partSize, signal, cipher?.segmentSize ?? 0).catch((err: unknown) => {
        throw new LocalLayerInvalid(dir, `${f.name} cannot be read (${(err as Error).message})`, { cause: err });
      });
      if (h.size !== f.size) throw new LocalLayerInvalid(dir, `${f.name} changed size while it was being read; do not modify images dirs during a push`);
      prepared.push(cipher ? this.encrypted(f, h, cipher) : this.plain(f, h));
    }
    return prepared;
  }

  private plain(f: LocalFile, h: UploadHashes): PreparedFile {
    return {
      name: f.name,
      size: h.size,
      sha256: h.sha256,
      path: f.path,
      upload: {
        key: this.bucket.keys.blob(h.sha256),
        size: h.size,
        sha256: h.sha256,
        partSize: h.partSize,
        partCrc32: h.partCrc32,
        metadata: { [SHA256_METADATA]: h.sha256 },
      },
    };
  }

  private encrypted(f: LocalFile, h: UploadHashes, cipher: BlobCipher): PreparedFile {
    const blob = cipher.blobName(h.sha256);
    const stored = cipher.ciphertextSize(h.size);
    return {
      name: f.name,
      size: h.size,
      sha256: h.sha256,
      blob,
      path: f.path,
      upload: {
        key: this.bucket.keys.encryptedBlob(blob),
        size: stored,
        sha256: h.sha256,
        partSize: stored > this.settings.partSize ? partSizeFor(stored, this.settings.partSize) : 0,
        partCrc32: [],
        // The plaintext hash is deliberately not in the metadata: it would reveal equal files.
        metadata: { [KEY_ID_METADATA]: cipher.keyId },
        encrypted: { obj: cipher.object(h.sha256), plainSize: h.size, segmentCrc32: h.segmentCrc32 },
      },
    };
  }

  private record(layer: LayerInput, files: LayerFile[], bytes: number): LayerRecord {
    const cipher = this.settings.cipher;
    return {
      index: layer.index,
      kind: layer.kind,
      parentIndex: layer.parentIndex,
      files,
      bytes,
      criuVersion: layer.criuVersion,
      kernel: layer.kernel,
      host: layer.host || this.settings.host,
      process: layer.process,
      stats: layer.stats,
      storedAt: new Date().toISOString(),
      ...(cipher ? { encryption: { scheme: ENCRYPTION_SCHEME, keyId: cipher.keyId, segmentSize: cipher.segmentSize } } : {}),
    };
  }

  /** Uploads every distinct file; returns the stored object's ETag by plaintext SHA-256, where the store gave one. */
  private async uploadFiles(files: PreparedFile[], controller: AbortController, onBytes: (n: number) => void, report: TransferReport): Promise<Map<string, string>> {
    const { concurrency, partSize, sse } = this.settings;
    // Two files with the same bytes are one blob: send it once, count it for both.
    const unique = new Map<string, PreparedFile>();
    for (const f of files) {
      if (unique.has(f.sha256)) onBytes(f.size);
      else unique.set(f.sha256, f);
    }
    // Files too big for 10,000 parts of partSize get larger parts; the buffers must hold them.
    const pool = new BufferPool(concurrency, Math.max(partSize, ...files.map((f) => f.upload.partSize)));
    const ctx: UploadContext = {
      client: this.bucket.client,
      bucket: this.bucket.name,
      endpoint: await this.bucket.endpoint(),
      pool,
      signal: controller.signal,
      onBytes,
      ...(sse ? { sse } : {}),
      ...(this.settings.limit ? { limit: this.settings.limit } : {}),
    };
    const etags = new Map<string, string>();
    try {
      await mapLimit(
        [...unique.values()],
        concurrency,
        stopOthersOnFailure(controller, async (f: PreparedFile) => {
          const etag = await this.uploadFile(ctx, f, report);
          if (etag !== undefined) etags.set(f.sha256, etag);
        }),
      );
    } catch (err) {
      controller.abort(err);
      throw err;
    }
    return etags;
  }

  /**
   * Stores one file unless the very bytes are already there. An object found under the blob's
   * name counts only once read back (and decrypted, for an encrypted blob) and found to hold this
   * file: its metadata proves nothing, any bucket writer can set it. Reading costs about what
   * sending would, but leaves a verified object as it is. Returns the object's ETag.
   */
  private async uploadFile(ctx: UploadContext, f: PreparedFile, report: TransferReport): Promise<string | undefined> {
    const state = await this.bucket.head(f.upload.key, ctx.signal);
    if (state && state.size === f.upload.size) {
      const cipher = this.settings.cipher;
      const decrypt = f.upload.encrypted && cipher ? new DecryptStream(cipher, f.sha256, f.upload.key) : undefined;
      const etag = await this.bucket.readsAs(f.upload.key, { sha256: f.sha256, size: f.size, storedSize: f.upload.size }, ctx.signal, decrypt);
      if (etag !== null) {
        report.filesSkipped++;
        ctx.onBytes(f.size);
        return etag;
      }
    }
    // Progress counts plaintext bytes; an encrypted object is a little larger, so scale it.
    const scale = f.size / f.upload.size;
    const onBytes = f.upload.encrypted ? (n: number): void => ctx.onBytes(Math.round(n * scale)) : ctx.onBytes;
    const sent = await uploadBlob({ ...ctx, onBytes }, { ...f.upload, path: f.path });
    addSent(report, sent);
    return sent.etag;
  }
}
