/**
 * What a final dump taken now would cost, from what this run has measured: how fast the host
 * would write pages in a final dump (core/layer.ts pageWriteMs), how fast the process dirties them (pages per pre-dump over
 * the time between two pre-dumps), and how fast layers move (this run's uploads and the target's
 * prefetches). Pure and deterministic, so workflow code can use it and tests can feed it numbers.
 *
 * The downtime it predicts is what the user waits for:
 *   frozen  the final dump's fixed freeze plus writing the pages dirtied since the last layer;
 *   move    where the process runs again elsewhere (migrate), moving those pages, and any layer
 *           not yet at the target, through the store: upload on the source, download on the target.
 * Rates nobody has measured yet fall back to the host's own earlier measurements, then to the
 * stated assumptions below; a prediction says which it used.
 */

import type { HostRates } from '../activities/types';
import { pageWriteMs, RATE_SAMPLE_PAGES } from '../core/layer';

/** Assumed when nothing has been measured: a modest disk-bound CRIU, a modest link. */
export const ASSUMED_DUMP_MIB_PER_S = 256;
export const ASSUMED_TRANSFER_MIB_PER_S = 100;
const MIB = 1024 * 1024;
const bytesPerMs = (mibPerS: number) => (mibPerS * MIB) / 1000;

/** One layer this run dumped, as the model needs it (from CRIU's stats and the step's clock). */
export interface LayerObservation {
  pagesWritten: number;
  memdumpTimeUs: number;
  frozenTimeUs: number;
  /** Host clock when CRIU was asked to dump: dirty tracking restarts at about this moment. */
  startedAtMs: number;
  durationMs: number;
}

export interface TransferObservation {
  bytes: number;
  durationMs: number;
}


export interface Measurements {
  pageSize: number;
  /** This run's layers, in chain order. */
  layers: LayerObservation[];
  uploads: TransferObservation[];
  prefetches: TransferObservation[];
  host: HostRates;
  /** Resident memory of the process when the checkpoint started, or null if unknown. */
  residentBytes: number | null;
}

export type RateSource = 'this-run' | 'host' | 'assumed';

export interface Rates {
  dumpBytesPerMs: number;
  dumpSource: RateSource;
  /** Pages the process dirtied per ms between this run's last two layers; null before two layers. */
  dirtyPagesPerMs: number | null;
  uploadBytesPerMs: number;
  uploadSource: RateSource;
  /** The target's downloads; the upload rate stands in before the first prefetch. */
  downloadBytesPerMs: number;
  downloadSource: RateSource;
  /** The freeze a dump costs besides writing pages: the last layer's frozen time less its memdump time. */
  fixedFreezeMs: number;
}

/** The same rates in the units people read: MiB/s, pages/s. */
export interface RatesReport {
  dumpMiBps: number;
  dirtyPagesPerS: number | null;
  uploadMiBps: number;
  downloadMiBps: number;
  sources: { dump: RateSource; upload: RateSource; download: RateSource };
}

export interface DowntimePrediction {
  /** Pages the final dump is expected to write. */
  finalPages: number;
  /** Predicted frozen time of the final dump. */
  frozenMs: number;
  /** Predicted time to move the final layer (and layers not yet at the target); 0 when nothing moves. */
  moveMs: number;
  totalMs: number;
}

function transferRate(seen: readonly TransferObservation[]): number | null {
  const bytes = seen.reduce((n, t) => n + t.bytes, 0);
  const ms = seen.reduce((n, t) => n + t.durationMs, 0);
  return bytes > 0 && ms > 0 ? bytes / ms : null;
}

/**
 * How fast a final dump would write pages, from a pre-dump's own timing. A pre-dump collects its
 * pages while the process is frozen (CRIU's memdump time) and writes them to the images after it
 * thawed; a final dump does both while frozen. So the time per page is the memdump time plus what
 * the step took after the freeze (its duration less its frozen time, which also holds the start
 * of `criu swrk`). Which layer: the latest that wrote at least RATE_SAMPLE_PAGES pages. Pages
 * scattered over memory cost several times more each than one contiguous run (measured in the lab:
 * 50-80 us against 11 us per page), so the first, full pre-dump would promise a final dump far
 * faster than it will be; but a layer of a few hundred pages is mostly the step's fixed cost.
 * Without such a layer, the largest one.
 */
function measuredDumpRate(layers: readonly LayerObservation[], pageSize: number): number | null {
  const writeMs = (l: LayerObservation) => pageWriteMs(l, l.durationMs);
  const timed = layers.filter((l) => l.pagesWritten > 0 && writeMs(l) > 0);
  if (timed.length === 0) return null;
  const recent = [...timed].reverse().find((l) => l.pagesWritten >= RATE_SAMPLE_PAGES);
  const sample = recent ?? timed.reduce((a, b) => (b.pagesWritten >= a.pagesWritten ? b : a));
  return (sample.pagesWritten * pageSize) / writeMs(sample);
}


/** Pages per ms the process dirtied between the last two layers of this run. */
function lastDirtyRate(layers: readonly LayerObservation[]): number | null {
  for (let i = layers.length - 1; i >= 1; i--) {
    const interval = layers[i].startedAtMs - layers[i - 1].startedAtMs;
    if (interval > 0) return layers[i].pagesWritten / interval;
  }
  return null;
}

export function ratesOf(m: Measurements): Rates {
  const dump = measuredDumpRate(m.layers, m.pageSize);
  const upload = transferRate(m.uploads);
  const download = transferRate(m.prefetches);
  const hostDump = m.host.dumpBytesPerMs;
  const hostUpload = m.host.uploadBytesPerMs;
  const dumpRate = dump ?? hostDump ?? bytesPerMs(ASSUMED_DUMP_MIB_PER_S);
  const uploadRate = upload ?? hostUpload ?? bytesPerMs(ASSUMED_TRANSFER_MIB_PER_S);
  const last = m.layers[m.layers.length - 1];
  return {
    dumpBytesPerMs: dumpRate,
    dumpSource: dump !== null ? 'this-run' : hostDump !== null ? 'host' : 'assumed',
    dirtyPagesPerMs: lastDirtyRate(m.layers),
    uploadBytesPerMs: uploadRate,
    uploadSource: upload !== null ? 'this-run' : hostUpload !== null ? 'host' : 'assumed',
    downloadBytesPerMs: download ?? uploadRate,
    downloadSource: download !== null ? 'this-run' : upload !== null ? 'this-run' : hostUpload !== null ? 'host' : 'assumed',
    fixedFreezeMs: last ? Math.max(0, last.frozenTimeUs - last.memdumpTimeUs) / 1000 : 0,
  };
}

export function reportRates(r: Rates): RatesReport {
  const mibps = (bpms: number) => round((bpms * 1000) / MIB);
  return {
    dumpMiBps: mibps(r.dumpBytesPerMs),
    dirtyPagesPerS: r.dirtyPagesPerMs === null ? null : round(r.dirtyPagesPerMs * 1000),
    uploadMiBps: mibps(r.uploadBytesPerMs),
    downloadMiBps: mibps(r.downloadBytesPerMs),
    sources: { dump: r.dumpSource, upload: r.uploadSource, download: r.downloadSource },
  };
}

/** Time to move `bytes` from the source through the store to the target. */
export function moveMs(r: Rates, bytes: number): number {
  return bytes / r.uploadBytesPerMs + bytes / r.downloadBytesPerMs;
}

/** Pages the process dirties in `ms` at the measured rate (null: no rate yet), at most all of it. */
export function dirtiedIn(r: Rates, ms: number, residentPages: number | null): number | null {
  if (r.dirtyPagesPerMs === null) return null;
  const pages = Math.round(r.dirtyPagesPerMs * Math.max(0, ms));
  return residentPages === null ? pages : Math.min(pages, residentPages);
}

export interface FinalDumpShape {
  finalPages: number;
  /** Bytes of layers dumped but not yet at the target (they move inside the downtime too). */
  pendingBytes: number;
  /** Whether the process runs again elsewhere, so the final layer moves inside the downtime. */
  moving: boolean;
  /**
   * The final layers go straight to the target (migrate's direct path): one hop, at the rate this
   * host sends at (its uploads stand in until a direct transfer has been measured), not two.
   */
  direct?: boolean;
}

export function predictDowntime(r: Rates, pageSize: number, f: FinalDumpShape): DowntimePrediction {
  const frozenMs = r.fixedFreezeMs + (f.finalPages * pageSize) / r.dumpBytesPerMs;
  const bytes = f.finalPages * pageSize + f.pendingBytes;
  const move = !f.moving ? 0 : f.direct ? bytes / r.uploadBytesPerMs : moveMs(r, bytes);
  return { finalPages: f.finalPages, frozenMs: round(frozenMs), moveMs: round(move), totalMs: round(frozenMs + move) };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
