/**
 * What one checkpoint run has measured for its convergence decisions (downtime-model.ts): its
 * layers, its uploads, the target's prefetches, the process's size and the host's earlier rates,
 * with every decision taken so far. Plain state in workflow code; replays rebuild it from history.
 */
import type { LayerDump, ProcessMeasure, UploadResult } from '../activities/types';
import type { DecisionRecord, RunShape } from './convergence-policy';
import { ratesOf, reportRates, type Measurements, type Rates, type RatesReport } from './downtime-model';

export class ConvergenceTracker {
  /** Shared with the progress query and the result: decisions show up as they are taken. */
  readonly decisions: DecisionRecord[] = [];
  private readonly measured: Measurements;

  constructor(
    pageSize: number,
    /** Whether the process runs again on another host, so the final layer moves inside the downtime. */
    readonly moving: boolean,
    /** Whether the final layers go straight to the target (new runs of migrate's direct path). */
    readonly direct = false,
  ) {
    this.measured = { pageSize, layers: [], uploads: [], prefetches: [], host: { dumpBytesPerMs: null, uploadBytesPerMs: null }, residentBytes: null };
  }

  get residentBytes(): number | null {
    return this.measured.residentBytes;
  }

  processMeasured(m: ProcessMeasure): void {
    this.measured.residentBytes = m.residentBytes;
    this.measured.host = m.hostRates;
  }

  layerDumped(d: LayerDump): void {
    const { pagesWritten, memdumpTimeUs, frozenTimeUs } = d.stats;
    this.measured.layers.push({ pagesWritten, memdumpTimeUs, frozenTimeUs, startedAtMs: d.startedAtMs, durationMs: d.durationMs });
  }

  /** A layer already stored (a retry, a warm layer) moved nothing and says nothing about the link. */
  uploaded(r: UploadResult): void {
    if (!r.alreadyStored && r.bytes > 0 && r.durationMs > 0) this.measured.uploads.push({ bytes: r.bytes, durationMs: r.durationMs });
  }

  prefetched(p: { bytes: number; durationMs: number }): void {
    if (p.bytes > 0 && p.durationMs > 0) this.measured.prefetches.push({ bytes: p.bytes, durationMs: p.durationMs });
  }

  rates(): Rates {
    return ratesOf(this.measured);
  }

  shape(dumpNowRequested: boolean): RunShape {
    return { pageSize: this.measured.pageSize, moving: this.moving, ...(this.direct ? { direct: true } : {}), residentBytes: this.measured.residentBytes, dumpNowRequested };
  }

  report(): RatesReport {
    return reportRates(this.rates());
  }

  /** Whether the start decision found pre-dumps cannot help (then catch-ups cannot either). */
  ruledOutPreDumps(): boolean {
    const first = this.decisions[0];
    return first !== undefined && first.at === 'start' && first.next === 'final-dump';
  }

  note(d: DecisionRecord): DecisionRecord {
    this.decisions.push(d);
    return d;
  }
}
