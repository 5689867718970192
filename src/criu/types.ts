/**
 * The public shapes of ferry's CRIU layer: what a dump step takes and returns.
 * Plain JSON-serialisable data, so activities can return them into workflow history as they are.
 * The process identity and dump statistics belong to the layer type chain in src/core/layer.ts.
 */
import type { DumpKind, DumpStats, ProcessIdentity } from '../core/layer';

export type { DumpKind, DumpStats, ProcessIdentity } from '../core/layer';

/** The outcome of one pre-dump or dump: a new layer of images on local disk. */
export interface DumpResult {
  kind: DumpKind;
  pid: number;
  /** Absolute path of the images dir this step wrote. */
  imagesDir: string;
  /** Absolute path of the parent layer's images dir, or null for the first layer. */
  parent: string | null;
  /** Whether the process was left running (always true for a pre-dump). */
  leftRunning: boolean;
  process: ProcessIdentity;
  stats: DumpStats;
  criuVersion: string;
  /**
   * Things the caller should know that did not fail the step (e.g. transparent huge pages making
   * pre-dumps ineffective, or ferry's layer record that could not be written). Absent when none.
   */
  warnings?: string[];
}

export interface PreDumpRequest {
  pid: number;
  imagesDir: string;
  /** The previous layer (pre-dump) this one is incremental to. */
  prevImagesDir?: string;
  /** Identity recorded at the chain's first step; a different process under that pid is refused. */
  expectedIdentity?: ProcessIdentity;
  /**
   * The process is a shell job: it belongs to a session (and maybe a terminal) whose leader, usually
   * the shell that started it, is not dumped with it. CRIU then records it anyway; restore it with
   * shellJob too. Default false (CRIU refuses such a process).
   */
  shellJob?: boolean;
}

export interface DumpRequest extends PreDumpRequest {
  /** Keep the process running after the final dump (default: CRIU kills it once dumped). */
  leaveRunning?: boolean;
}

export interface RestoreRequest {
  imagesDir: string;
  /** The dump was taken with shellJob: the restored process joins the restoring process's session. */
  shellJob?: boolean;
}

export interface CriuRestoreResult {
  pid: number;
  imagesDir: string;
  /** CRIU's restore timing (stats-restore), microseconds. */
  restoreTimeUs: number | null;
}

export interface CriuFeatures {
  /** Soft-dirty memory tracking: required for pre-dumps. */
  memTrack: boolean;
  lazyPages: boolean;
  pidfdStore: boolean;
}

export interface CriuCapabilities {
  version: string;
  features: CriuFeatures;
  /** Absolute path of the CRIU binary that answered. */
  binary?: string;
}
