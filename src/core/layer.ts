/**
 * One layer type chain, from a reference to a layer on a host, through the dump that wrote it, to
 * the record the layer store keeps; summaries are picks of these, not shapes of their own. Plain
 * JSON, so every one of them can cross workflow history.
 *
 *   LayerRef     index, kind, images dir: enough to name a layer as a parent on its host
 *   LayerDump    + what CRIU reported and what the step measured (a layer in staging)
 *   LayerRecord  what the manifest says of a stored layer (files, hashes, host, when)
 *   LayerSummary what progress and results show of a layer (workflows)
 */

export type DumpKind = 'pre-dump' | 'dump';

/** A process as ferry identifies it: a pid alone can be recycled, pid + start time cannot. */
export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot at which the process started. */
  startTime: number;
  /** Boot id (/proc/sys/kernel/random/boot_id): start times only compare within one boot. */
  bootId: string;
  /** Command name (field 2 of /proc/<pid>/stat), for messages. */
  comm: string;
}

/** CRIU's own counters for one dump or pre-dump (stats-dump), in ferry's names. */
export interface DumpStats {
  /** Time the process tree was frozen, in microseconds. */
  frozenTimeUs: number;
  /** Time spent writing memory, in microseconds. */
  memdumpTimeUs: number;
  pagesScanned: number;
  /** Pages written into this layer's pages-*.img. */
  pagesWritten: number;
  /** Pages unchanged since the parent layer, stored there and only referenced here. */
  pagesSkippedParent: number;
}

/**
 * The time a final dump would spend on a layer's pages, from a pre-dump's own timing: CRIU collects
 * them while the process is frozen (memdump time) and writes them out after it thawed; a final dump
 * does both while frozen. The step's duration less its frozen time also holds the start of
 * `criu swrk`: a fixed cost, which is why small layers are poor samples (see downtime-model.ts).
 */
/** A layer smaller than this (4 MiB of pages) is mostly the fixed cost of its step: no rate sample. */
export const RATE_SAMPLE_PAGES = 1024;

export function pageWriteMs(stats: Pick<DumpStats, 'memdumpTimeUs' | 'frozenTimeUs'>, durationMs: number): number {
  return stats.memdumpTimeUs / 1000 + Math.max(0, durationMs - stats.frozenTimeUs / 1000);
}

/** A layer on the host that wrote it: enough to name it as the parent of the next one. */
export interface LayerRef {
  /** 0-based position in the chain; layer 0 has no parent. */
  index: number;
  kind: DumpKind;
  /** Host-local images dir of the layer. */
  imagesDir: string;
}

/** One layer written to the host's staging dir. */
export interface LayerDump extends LayerRef {
  /** Index of the parent layer, or null for layer 0. */
  parentIndex: number | null;
  stats: DumpStats;
  process: ProcessIdentity;
  criuVersion: string;
  leftRunning: boolean;
  /** Bytes of the layer's files on disk. */
  bytes: number;
  /** Host wall clock (ms since epoch) just before CRIU was asked to dump. */
  startedAtMs: number;
  durationMs: number;
}

export interface LayerFile {
  /** File name inside the images dir (no directories: CRIU images dirs are flat). */
  name: string;
  size: number;
  /** Hex SHA-256 of the file's bytes (before any encryption). */
  sha256: string;
  /**
   * Encrypted layers only: the stored object's name (hex HMAC-SHA256 of the plaintext hash under
   * the key, see blob-cipher.ts), so that readers without the key (gc, ls) still know the object.
   */
  blob?: string;
  /**
   * The stored object's ETag as the store reported it after ferry's own checksum-verified write, or
   * after ferry read the object back and found the right bytes. Computed by the server, never by
   * the writer: a "complete" manifest requires every object to still carry it (absent in layers
   * stored before this was recorded).
   */
  etag?: string;
}

/** How a layer's files are encrypted at rest (absent: stored as plaintext). */
export interface LayerEncryption {
  /** The object format, see src/storage/blob-cipher.ts. */
  scheme: 'aes-256-gcm-seg1';
  /** Id of the key (first 16 hex of a SHA-256 of it), never the key. */
  keyId: string;
  /** Plaintext bytes per GCM segment. */
  segmentSize: number;
}

/** A stored layer, as its checkpoint's manifest records it; `bytes` is the sum of the files' sizes. */
export interface LayerRecord extends Pick<LayerDump, 'index' | 'kind' | 'parentIndex' | 'bytes' | 'criuVersion' | 'process' | 'stats'> {
  files: LayerFile[];
  kernel: string;
  host: string;
  /** ISO time at which the layer was stored. */
  storedAt: string;
  /** Set when the layer's files are encrypted client-side (then the manifest is formatVersion 2). */
  encryption?: LayerEncryption;
}

/** A layer in a checkpoint's progress and result; `imagesDir` only means something on its host. */
export interface LayerSummary extends Pick<LayerDump, 'index' | 'kind' | 'parentIndex' | 'stats' | 'bytes' | 'imagesDir'> {
  dumpMs: number;
  uploaded: boolean;
  uploadMs: number | null;
}
