/**
 * The public shapes of ferry's layer store: a checkpoint is an ordered chain of layers in
 * S3-compatible storage, described by a manifest. Plain JSON, so they can cross workflow history.
 * No credentials ever appear in these types.
 */
import type { DumpKind, DumpStats, ProcessIdentity } from '../criu/types';

export interface LayerFile {
  /** File name inside the images dir (no directories: CRIU images dirs are flat). */
  name: string;
  size: number;
  /** Hex SHA-256 of the file's bytes (before any encryption). */
  sha256: string;
}

export interface LayerRecord {
  /** 0-based position in the chain; layer 0 has no parent. */
  index: number;
  kind: DumpKind;
  /** Index of the parent layer, or null for layer 0. */
  parentIndex: number | null;
  files: LayerFile[];
  /** Sum of the files' sizes. */
  bytes: number;
  criuVersion: string;
  kernel: string;
  host: string;
  process: ProcessIdentity;
  stats: DumpStats;
  /** ISO time at which the layer was stored. */
  storedAt: string;
}

export interface CheckpointManifest {
  formatVersion: 1;
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
}

export interface TransferProgress {
  bytesDone: number;
  bytesTotal: number;
}

export interface TransferOptions {
  onProgress?: (progress: TransferProgress) => void;
  signal?: AbortSignal;
}
