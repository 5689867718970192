/**
 * The public shapes of ferry's CRIU layer: what a dump step takes and returns.
 * Plain JSON-serialisable data, so activities can return them into workflow history as they are.
 * The process identity and dump statistics belong to the layer type chain in src/core/layer.ts.
 */
import type { CriuOptions } from '../core/criu-options';
import type { DumpKind, DumpStats, ProcessIdentity } from '../core/layer';

export type { DumpKind, DumpStats, ProcessIdentity } from '../core/layer';
export { CRIU_OPTION_NAMES, type CriuOptions } from '../core/criu-options';

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

/** Where a CRIU page server listens: an IP literal (IPv6 without brackets) or, to connect, a host name. */
export interface PageServerAddress {
  address: string;
  port: number;
}


export interface PreDumpRequest {
  pid: number;
  imagesDir: string;
  /**
   * Send the memory pages to this page server (`ferry page-server` on the destination) instead of
   * writing them into imagesDir; every other image file is still written to imagesDir.
   */
  pageServer?: PageServerAddress;
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
  /** Resources CRIU must be told to dump (see CriuOptions). */
  criuOptions?: CriuOptions;
}

export interface DumpRequest extends PreDumpRequest {
  /** Keep the process running after the final dump (default: CRIU kills it once dumped). */
  leaveRunning?: boolean;
  /**
   * Lazy migration: write everything but the memory, then serve the pages on `lazyPagesPort` (every
   * IPv4 address of this host) until a lazy restore has fetched them all; the dump returns then.
   */
  lazyPages?: boolean;
  lazyPagesPort?: number;
}

export interface RestoreRequest {
  imagesDir: string;
  /** The dump was taken with shellJob: the restored process joins the restoring process's session. */
  shellJob?: boolean;
  /** Added to the options the dump recorded in its layer (those are applied anyway). */
  criuOptions?: CriuOptions;
  /**
   * Restore the memory on demand (userfaultfd): the process runs as soon as its other state is
   * back, and a `criu lazy-pages` daemon fills its pages in as it touches them, then in the background.
   */
  lazyPages?: boolean;
  /** With lazyPages: fetch the pages from this lazy dump (`ferry dump --lazy-pages`) instead of imagesDir. */
  lazyPagesFrom?: PageServerAddress;
}

export interface CriuRestoreResult {
  pid: number;
  imagesDir: string;
  /** CRIU's restore timing (stats-restore), microseconds. */
  restoreTimeUs: number | null;
  /** A lazy restore: where the pages came from, and when the last arrived (ms after RESTORE answered). */
  lazyPages?: { from: string; allPagesInMs: number };
}

export interface PageServerRequest {
  /** New or empty directory for the pages of one dump or pre-dump (created 0700). */
  imagesDir: string;
  /** An IP literal of this host; absent: every IPv4 address. */
  address?: string;
  /** 0: any free port (the answer says which). */
  port: number;
  /** The page server's dir of the previous pre-dump in this chain, for an incremental one. */
  prevImagesDir?: string;
}

export interface PageServerResult {
  imagesDir: string;
  /** Page data received (pages-*.img), bytes. */
  pagesBytes: number;
  /** The pagemap and pages files written. */
  files: string[];
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
