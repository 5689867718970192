/**
 * The layer store: checkpoints as chains of CRIU image layers in an S3-compatible bucket.
 *
 * LayerStore is the one entry point callers use; each of its jobs lives in a module of its own:
 * - store-bucket.ts    the bucket, its endpoint, and S3 failures as typed errors
 * - layer-upload.ts    putting a local images dir as a layer (upload.ts moves the bytes)
 * - manifest-store.ts  reading and writing manifests, resolving and verifying chains
 * - chain-pull.ts      pulling a chain into local layer dirs (download.ts moves the bytes)
 * - catalogue.ts       listing and describing checkpoints
 * - store-cleanup.ts   delete and gc (decisions in gc-plan.ts)
 * Key layout in keys.ts, manifest format and validation in manifest.ts.
 */
import os from 'node:os';
import type { S3Client } from '@aws-sdk/client-s3';
import { KeyLayout } from './keys';
import { BandwidthLimit } from './bandwidth';
import { BlobCipher } from './blob-cipher';
import { ALLOW_UNAUTHENTICATED_SETTING, ManifestAuth } from './manifest-auth';
import { loadEncryptionKey, type EncryptionKey } from '../config/encryption-key';
import { Catalogue } from './catalogue';
import { ChainPuller } from './chain-pull';
import { LayerUploader } from './layer-upload';
import { newManifest } from './manifest';
import { ManifestStore } from './manifest-store';
import { StoreBucket } from './store-bucket';
import { StoreCleanup } from './store-cleanup';
import { DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE } from './upload';
import type { ServerSideEncryption } from './upload-request';
import type {
  ChainEntry,
  CheckpointDescription,
  CheckpointManifest,
  CheckpointSummary,
  DeleteResult,
  GcOptions,
  GcResult,
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
  /** Trust manifests without an authentication code (default: FERRY_ALLOW_UNAUTHENTICATED_CHECKPOINTS=true). */
  allowUnauthenticated?: boolean;
  /** Plaintext bytes per encrypted segment (default 1 MiB; tests use small ones). */
  segmentSize?: number;
  /** Server-side encryption asked of the store for every object written. */
  sse?: ServerSideEncryption;
  /** Cap on the bytes per second all of this store's uploads and downloads move together. */
  bandwidthBytesPerSecond?: number;
}

export class LayerStore {
  readonly client: S3Client;
  readonly bucket: string;
  readonly keys: KeyLayout;
  readonly host: string;
  readonly partSize: number;
  readonly concurrency: number;
  private readonly cipher: BlobCipher | null;
  private readonly storeBucket: StoreBucket;
  private readonly manifests: ManifestStore;
  private readonly uploader: LayerUploader;
  private readonly puller: ChainPuller;
  private readonly catalogue: Catalogue;
  private readonly cleanup: StoreCleanup;

  constructor(opts: LayerStoreOptions) {
    this.client = opts.client;
    this.bucket = opts.bucket;
    this.keys = new KeyLayout(opts.prefix);
    this.host = opts.host ?? os.hostname();
    this.partSize = opts.partSize ?? DEFAULT_PART_SIZE;
    this.concurrency = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY);
    const key = opts.encryptionKey === undefined ? loadEncryptionKey() : opts.encryptionKey;
    this.cipher = key ? new BlobCipher(key, opts.segmentSize) : null;

    this.storeBucket = new StoreBucket(this.client, this.bucket, this.keys);
    this.manifests = new ManifestStore(this.storeBucket, new ManifestAuth(key, opts.allowUnauthenticated ?? process.env[ALLOW_UNAUTHENTICATED_SETTING] === 'true'));
    const limit = opts.bandwidthBytesPerSecond ? new BandwidthLimit(opts.bandwidthBytesPerSecond) : undefined;
    const transfer = { partSize: this.partSize, concurrency: this.concurrency, cipher: this.cipher, ...(limit ? { limit } : {}) };
    this.uploader = new LayerUploader(this.storeBucket, { ...transfer, host: this.host, sse: opts.sse });
    this.puller = new ChainPuller(this.storeBucket, this.manifests, { ...transfer, rangedDownloads: opts.rangedDownloads });
    this.catalogue = new Catalogue(this.storeBucket, this.manifests);
    this.cleanup = new StoreCleanup(this.storeBucket, this.manifests, this.catalogue);
  }

  /** Id of the key layers are encrypted with, or null when they are stored as plaintext. */
  get encryptionKeyId(): string | null {
    return this.cipher?.keyId ?? null;
  }

  /** scheme://host:port of the store, for messages (never credentials). */
  endpoint(): Promise<string> {
    return this.storeBucket.endpoint();
  }

  // ---- layers -------------------------------------------------------------------------------

  async putLayer(checkpointId: string, layer: LayerInput, dir: string, opts?: TransferOptions): Promise<LayerRecord> {
    return (await this.putLayerReport(checkpointId, layer, dir, opts)).record;
  }

  /** putLayer, also reporting what was actually sent (the CLI prints it, tests assert on it). */
  putLayerReport(checkpointId: string, layer: LayerInput, dir: string, opts?: TransferOptions): Promise<{ record: LayerRecord; report: TransferReport }> {
    return this.uploader.put(checkpointId, layer, dir, opts);
  }

  // ---- manifests and chains -----------------------------------------------------------------

  /**
   * Claims a new checkpoint id for `owner` (an empty incomplete manifest, written only if none
   * exists); false when something is already stored under it for someone else.
   */
  claimCheckpointId(checkpointId: string, owner: string): Promise<boolean> {
    return this.manifests.claim(newManifest(checkpointId), owner);
  }

  readManifest(checkpointId: string): Promise<CheckpointManifest> {
    return this.manifests.read(checkpointId);
  }

  /** Stores a manifest; one marked complete only once every object of its chain was found stored as recorded. */
  writeManifest(manifest: CheckpointManifest): Promise<void> {
    return this.manifests.write(manifest);
  }

  /** Checks every object of a chain is still the one ferry stored (its recorded ETag; HEAD only, no download). */
  verifyChainObjects(chain: ChainEntry[]): Promise<void> {
    return this.manifests.verifyChainObjects(chain);
  }

  /** The whole chain of a checkpoint, base layers of other checkpoints first. */
  resolveChain(manifest: CheckpointManifest, seen: string[] = []): Promise<ChainEntry[]> {
    return this.manifests.resolveChain(manifest, seen);
  }

  /** Downloads a checkpoint's chain into intoDir/layer-0 .. layer-N, verified, as CRIU restores it (chain-pull.ts). */
  pullChain(checkpointId: string, intoDir: string, opts?: PullOptions): Promise<PulledChain> {
    return this.puller.pull(checkpointId, intoDir, opts);
  }

  // ---- catalogue ----------------------------------------------------------------------------

  list(): Promise<CheckpointSummary[]> {
    return this.catalogue.list();
  }

  describe(checkpointId: string): Promise<CheckpointDescription> {
    return this.catalogue.describe(checkpointId);
  }

  /** Deletes a checkpoint and the blobs no other checkpoint uses; refused while another builds on it. */
  delete(checkpointId: string): Promise<DeleteResult> {
    return this.cleanup.delete(checkpointId);
  }

  /** Removes what retention lets go: checkpoints, the blobs they alone used, abandoned uploads (store-cleanup.ts). */
  gc(opts: GcOptions): Promise<GcResult> {
    return this.cleanup.gc(opts);
  }
}
