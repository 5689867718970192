/**
 * The public shapes of ferry's layer store: a checkpoint is an ordered chain of layers in
 * S3-compatible storage, described by a manifest. Plain JSON, so they can cross workflow history.
 * No credentials ever appear in these types.
 */
import type { LayerRecord } from '../core/layer';

export type { LayerEncryption, LayerFile, LayerRecord } from '../core/layer';




export interface CheckpointManifest {
  /** 1: plaintext layers only; 2: some layers carry `encryption` (writeManifest picks it). */
  formatVersion: 1 | 2;
  checkpointId: string;
  /** A checkpoint is complete only once its final dump layer is stored and the manifest says so. */
  complete: boolean;
  createdAt: string;
  completedAt: string | null;
  layers: LayerRecord[];
  /**
   * Layers of other checkpoints this one builds on (a warm chain shared by nightly pre-dumps):
   * checkpoint id + layer index, outermost first. Empty when the chain is self-contained.
   */
  baseLayers: Array<{ checkpointId: string; index: number }>;
  /**
   * Set on a warm chain (nightly pre-dumps, never complete on its own): the schedules whose runs
   * added its layers. gc keeps the chain while one of them exists (gc-plan.ts).
   */
  warm?: WarmChainRecord;
  /** HMAC over the rest, when written with an encryption key (manifest-auth.ts). */
  auth?: ManifestAuthRecord;
}

export interface WarmChainRecord {
  /** Ids of the schedules that added layers, oldest first; empty when runs were not scheduled. */
  scheduleIds: string[];
}

export interface ManifestAuthRecord {
  alg: 'hmac-sha256-v1';
  /** Id of the encryption key the MAC key is derived from. */
  keyId: string;
  /** Base64 HMAC-SHA256. */
  mac: string;
}

export interface TransferProgress {
  bytesDone: number;
  bytesTotal: number;
}

export interface TransferOptions {
  onProgress?: (progress: TransferProgress) => void;
  signal?: AbortSignal;
}

/** What a caller knows about a layer before it is stored (putLayer computes files, bytes, storedAt). */
export type LayerInput = Pick<LayerRecord, 'index' | 'kind' | 'parentIndex' | 'criuVersion' | 'kernel' | 'host' | 'process' | 'stats'>;

export interface PullOptions extends TransferOptions {
  /** Download the stored layers of a checkpoint whose manifest is not complete (default: refuse). */
  allowIncomplete?: boolean;
  /**
   * With an encryption key configured, also download layers stored unencrypted (default: refuse,
   * since nothing authenticates a plaintext layer; meant for checkpoints pushed before encryption).
   */
  allowUnencrypted?: boolean;
  /**
   * Keep layer dirs already in the target after checking their file names and sizes only, not
   * their SHA-256. For a caller that downloaded and verified them itself into its own staging dir
   * moments ago (migrate's prefetch): re-hashing every pre-dump layer would put a full read of the
   * process's memory back inside the downtime. Default: re-verify them fully.
   */
  trustPresent?: boolean;
}

/** Where a pulled chain is, and which of its layers this pull downloaded (the rest were present). */
export interface PulledChain {
  /** intoDir/layer-0 .. layer-N, in chain order. */
  layerDirs: string[];
  /** The last layer's dir: what CRIU restores from. */
  finalDir: string;
  /** Chain positions downloaded by this call. */
  downloaded: number[];
}

/** One line of `ferry checkpoints ls`. */
export interface CheckpointSummary {
  checkpointId: string;
  complete: boolean;
  createdAt: string;
  completedAt: string | null;
  /** Number of layers in the whole chain, base layers included. */
  layers: number;
  /** Bytes of this checkpoint's own layers (base layers are counted with their own checkpoint). */
  bytes: number;
  baseCheckpoints: string[];
  /** Set when the manifest could not be read or is invalid; the other fields are then best effort. */
  problem?: string;
}

/** One position of a resolved chain: which checkpoint's layer sits there. */
export interface ChainEntry {
  position: number;
  checkpointId: string;
  layer: LayerRecord;
}

/** `ferry checkpoints show`: the manifest plus what is derived from it and from other manifests. */
export interface CheckpointDescription {
  manifest: CheckpointManifest;
  chain: ChainEntry[];
  /** Bytes a pull downloads (the whole chain). */
  chainBytes: number;
  /** Checkpoints whose baseLayers point at this one: deleting it would break them. */
  usedBy: string[];
}

export interface GcOptions {
  /** Keep the N most recent complete checkpoints (and everything they build on). */
  keepLast: number;
  /** Report what would be removed without removing anything. */
  dryRun?: boolean;
  /**
   * Incomplete checkpoints, unreferenced blobs and abandoned multipart uploads younger than this
   * are left alone, because a push may still be writing them (default 24 h).
   */
  graceMs?: number;
  /**
   * How long a warm chain is kept after its last pre-dump once no schedule that added to it
   * exists (default 7 days): a deleted schedule's chain can still serve a migrate for a while.
   */
  keepReleasedMs?: number;
  /** Tells which schedules exist; without it (or when it fails) every warm chain is kept. */
  schedules?: ScheduleLookup;
  /** The clock gc judges ages by (ms since the epoch; default Date.now()). */
  now?: number;
}

/**
 * Answers which schedules exist, for gc's warm-chain rule. The storage layer knows no Temporal:
 * the CLI implements this with its Temporal client.
 */
export interface ScheduleLookup {
  /** What is asked, for messages (e.g. "Temporal at 127.0.0.1:7233, namespace default"). */
  readonly source: string;
  /** The ids among `scheduleIds` that exist now; throws when that cannot be known. */
  existing(scheduleIds: string[]): Promise<Set<string>>;
}

/** One checkpoint's fate in a gc run, and why. */
export interface GcDecision {
  checkpointId: string;
  action: 'keep' | 'delete';
  reason: string;
}

export interface GcResult {
  kept: string[];
  /** Kept only because a kept checkpoint builds on their layers. */
  keptAsBase: string[];
  deleted: string[];
  /** Every checkpoint with what gc did (or, with dryRun, would do) and why, sorted by id. */
  decisions: GcDecision[];
  /**
   * Whether gc knew which warm chains' schedules exist: 'checked', 'not-needed' (no warm chain
   * stored), or why it could not (then every warm chain was kept).
   */
  schedules: { state: 'checked' | 'not-needed' } | { state: 'unavailable'; reason: string };
  blobsDeleted: number;
  bytesFreed: number;
  uploadsAborted: number;
  dryRun: boolean;
}

export interface DeleteResult {
  checkpointId: string;
  /** Blobs removed because no other checkpoint uses them. */
  blobsDeleted: number;
  bytesFreed: number;
}

/** What a putLayer or push actually moved, for reports and tests. */
export interface TransferReport {
  bytesTotal: number;
  /** Bytes sent over the network (stored bytes that were reused are not counted). */
  bytesSent: number;
  /** Files already stored with the same SHA-256, not sent again. */
  filesSkipped: number;
  partsSent: number;
  /** Parts of an interrupted multipart upload that were found stored and not sent again. */
  partsReused: number;
}
