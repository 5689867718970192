/**
 * The decisions "pre-dump again, or take the final dump now", as pure functions of the policy and
 * what the run measured. Deterministic (no clock, no I/O; times come in as numbers), so they run in
 * workflow code and are tested on their own.
 *
 * A checkpoint goes through three decisions:
 * 1. start (decideStart): is the process big enough for pre-dumps to shorten anything? A process
 *    whose whole memory is written (and moved) in less than policy.minSavingMs gets one dump.
 * 2. pre-dumps (decide): back to back, uploads overlapping, while the dirty set shrinks. Each
 *    pre-dump copies the pages dirtied since the previous one while the process keeps running.
 * 3. catch-up (decideCatchUp*): the stored layers have been uploaded (and, in a migration, fetched
 *    by the target), which took time in which the process dirtied pages again. A catch-up pre-dump
 *    takes those; it is stored and fetched before the next one, and the final dump comes straight
 *    after the last, so it holds only what was dirtied while that last pre-dump ran. Rounds go on
 *    while the predicted downtime (downtime-model.ts) is over the goal and each round shrinks:
 *    when the process dirties pages faster than the link moves them, rounds stop shrinking and
 *    more of them cannot help ("not-converging").
 */
import { dirtiedIn, moveMs, predictDowntime, reportRates, type DowntimePrediction, type Rates, type RatesReport } from './downtime-model';

export interface ConvergencePolicy {
  /** Upper bound on pre-dumps before the final dump (0 = no pre-dumps). */
  maxPreDumps: number;
  /** Stop once a pre-dump wrote fewer pages than this. */
  minPagesWritten: number;
  /**
   * Stop when a pre-dump wrote at least this fraction of the previous one's pages (0.9 = it shrank
   * by less than 10%): the dirty set has stopped shrinking.
   */
  minShrinkRatio: number;
  /** Stop when the predicted frozen time of the final dump is at most this (ms); null = no target. */
  maxDowntimeMs: number | null;
  /** Fail instead of falling back to a single full dump when pre-dumps are impossible. */
  requirePreDumps: boolean;
  /** Upper bound on catch-up pre-dumps after the stored layers have moved (0 = none). */
  maxCatchUps: number;
  /**
   * The final dump follows a layer at most this old (ms); an older last layer (the stored layers
   * took longer to move, or a warm chain from last night) gets a catch-up pre-dump first.
   */
  maxLayerAgeMs: number;
  /**
   * Pre-dumps, and each further catch-up round, are taken only while they can save more than this
   * (ms) of downtime: a process dumped (and moved) whole in less gets one dump.
   */
  minSavingMs: number;
}

export const DEFAULT_POLICY: Readonly<ConvergencePolicy> = {
  maxPreDumps: 3,
  minPagesWritten: 1024,
  minShrinkRatio: 0.9,
  maxDowntimeMs: null,
  requirePreDumps: false,
  maxCatchUps: 3,
  maxLayerAgeMs: 1000,
  minSavingMs: 100,
};

/** What the policy needs from one pre-dump (a subset of CRIU's dump stats). */
export interface PreDumpObservation {
  pagesWritten: number;
  /** Time CRIU spent writing memory, microseconds: gives the host's dump rate. */
  memdumpTimeUs: number;
}

export type StopReason =
  | 'dump-now-requested'
  | 'max-pre-dumps'
  | 'pages-under-threshold'
  | 'not-shrinking'
  | 'downtime-under-target'
  | 'too-small'
  | 'not-converging'
  | 'max-catch-ups'
  | 'converged'
  | 'last-layer-fresh';

export type Decision =
  | { action: 'pre-dump'; predictedDowntimeMs: number | null }
  | { action: 'dump'; reason: StopReason; detail: string; predictedDowntimeMs: number | null };

/** The host's measured dump rate: the latest pre-dump that wrote pages in a measurable time. */
export function measuredDumpRateBytesPerMs(observations: readonly PreDumpObservation[], pageSize: number): number | null {
  for (let i = observations.length - 1; i >= 0; i--) {
    const o = observations[i];
    if (o.memdumpTimeUs > 0 && o.pagesWritten > 0) return (o.pagesWritten * pageSize) / (o.memdumpTimeUs / 1000);
  }
  return null;
}

/**
 * Predicted frozen time of a final dump taken now: the pages the last pre-dump found dirty are the
 * best estimate of what is dirty again, divided by the rate the host just wrote pages at.
 * Null when the stats give no rate (no pre-dump yet, or dumps too fast to time).
 */
export function predictDowntimeMs(observations: readonly PreDumpObservation[], pageSize: number): number | null {
  const last = observations[observations.length - 1];
  const rate = measuredDumpRateBytesPerMs(observations, pageSize);
  return last && rate ? (last.pagesWritten * pageSize) / rate : null;
}

/**
 * Decision 2, after each back-to-back pre-dump. `predictedDowntimeMs`, when given, replaces the
 * frozen-time-only prediction (runs started before catch-up rounds existed use that one).
 */
export function decide(
  policy: ConvergencePolicy,
  observations: readonly PreDumpObservation[],
  opts: { dumpNowRequested: boolean; pageSize: number; predictedDowntimeMs?: number | null },
): Decision {
  const last = observations[observations.length - 1];
  const predicted = opts.predictedDowntimeMs !== undefined ? opts.predictedDowntimeMs : predictDowntimeMs(observations, opts.pageSize);
  const stop = (reason: StopReason, detail: string): Decision => ({
    action: 'dump',
    reason,
    detail,
    predictedDowntimeMs: predicted,
  });

  if (opts.dumpNowRequested) return stop('dump-now-requested', 'a dumpNow signal asked for the final dump');
  if (observations.length >= policy.maxPreDumps) {
    return stop('max-pre-dumps', `reached the maximum of ${policy.maxPreDumps} pre-dump(s)`);
  }
  if (last && last.pagesWritten < policy.minPagesWritten) {
    return stop(
      'pages-under-threshold',
      `pre-dump ${observations.length} wrote ${last.pagesWritten} pages, under the threshold of ${policy.minPagesWritten}`,
    );
  }
  if (observations.length >= 2) {
    const prev = observations[observations.length - 2];
    if (last.pagesWritten >= prev.pagesWritten * policy.minShrinkRatio) {
      return stop(
        'not-shrinking',
        `pre-dump ${observations.length} wrote ${last.pagesWritten} pages after ${prev.pagesWritten}: ` +
          `the dirty set shrank by less than ${Math.round((1 - policy.minShrinkRatio) * 100)}%`,
      );
    }
  }
  if (policy.maxDowntimeMs !== null && predicted !== null && predicted <= policy.maxDowntimeMs) {
    return stop(
      'downtime-under-target',
      `predicted final-dump downtime ${predicted.toFixed(1)} ms is within the ${policy.maxDowntimeMs} ms target`,
    );
  }
  return { action: 'pre-dump', predictedDowntimeMs: predicted };
}

/** Fills defaults and checks a policy from workflow input; returns the problem text or the policy. */
export function normalizePolicy(input: Partial<ConvergencePolicy> | undefined): ConvergencePolicy | string {
  const p: ConvergencePolicy = { ...DEFAULT_POLICY, ...(input ?? {}) };
  const isCount = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 0;
  if (!isCount(p.maxPreDumps) || p.maxPreDumps > 100) return 'policy.maxPreDumps must be an integer from 0 to 100';
  if (!isCount(p.minPagesWritten)) return 'policy.minPagesWritten must be a non-negative integer';
  if (typeof p.minShrinkRatio !== 'number' || !(p.minShrinkRatio > 0 && p.minShrinkRatio <= 1)) {
    return 'policy.minShrinkRatio must be a number in (0, 1]';
  }
  if (p.maxDowntimeMs !== null && (typeof p.maxDowntimeMs !== 'number' || !(p.maxDowntimeMs > 0))) {
    return 'policy.maxDowntimeMs must be a positive number of milliseconds or null';
  }
  if (typeof p.requirePreDumps !== 'boolean') return 'policy.requirePreDumps must be true or false';
  if (!isCount(p.maxCatchUps) || p.maxCatchUps > 100) return 'policy.maxCatchUps must be an integer from 0 to 100';
  if (!isCount(p.maxLayerAgeMs)) return 'policy.maxLayerAgeMs must be a non-negative integer of milliseconds';
  if (!isCount(p.minSavingMs)) return 'policy.minSavingMs must be a non-negative integer of milliseconds';
  if (p.requirePreDumps && p.maxPreDumps === 0) return 'policy.requirePreDumps needs policy.maxPreDumps of at least 1';
  return p;
}

/** One decision with the numbers it was made on, as progress, results and `--wait` show it. */
export interface DecisionRecord {
  /** Which decision: at the start, after a back-to-back pre-dump, before catch-ups, after a catch-up. */
  at: 'start' | 'pre-dump' | 'catch-up-entry' | 'catch-up';
  /** Index of the layer the decision followed (null at the start). */
  afterLayer: number | null;
  /** What came next: another pre-dump, moving the stored layers first, a catch-up, or the final dump. */
  next: 'pre-dump' | 'move-stored-layers' | 'catch-up' | 'final-dump';
  reason: StopReason | null;
  detail: string;
  /** The downtime predicted if the final dump were taken at this point. */
  prediction: DowntimePrediction | null;
  rates: RatesReport;
}

export interface RunShape {
  pageSize: number;
  /** The process runs again elsewhere (migrate): the final layer moves inside the downtime. */
  moving: boolean;
  /** ... straight to the target worker (migrate's direct path), not through the store. */
  direct?: boolean;
  residentBytes: number | null;
  dumpNowRequested: boolean;
}

const mib = (bytes: number) => (bytes / (1024 * 1024)).toFixed(1);
const msText = (n: number) => `${Math.round(n)} ms`;

function record(at: DecisionRecord['at'], afterLayer: number | null, rates: Rates, d: Omit<DecisionRecord, 'at' | 'afterLayer' | 'rates'>): DecisionRecord {
  return { at, afterLayer, ...d, rates: reportRates(rates) };
}

/**
 * Decision 1: whether pre-dumps can shorten the downtime at all. They can save at most the part of
 * a full dump that grows with memory (writing it, and in a migration moving it); when that is
 * under policy.minSavingMs, or a full dump already meets the goal, one dump is the whole plan.
 */
export function decideStart(policy: ConvergencePolicy, rates: Rates, run: RunShape): DecisionRecord {
  const go = (detail: string) => record('start', null, rates, { next: 'pre-dump', reason: null, detail, prediction: null });
  if (run.residentBytes === null) return go('resident memory unknown: pre-dumping as the policy allows');
  const full = predictDowntime(rates, run.pageSize, { finalPages: Math.ceil(run.residentBytes / run.pageSize), pendingBytes: 0, moving: run.moving, direct: run.direct });
  const memoryMs = full.totalMs - rates.fixedFreezeMs;
  const rateText = `${reportRates(rates).dumpMiBps} MiB/s (${rates.dumpSource} rate)`;
  const moveText = run.moving ? ` and moved in ${msText(full.moveMs)}` : '';
  const stop = (reason: StopReason, detail: string) => record('start', null, rates, { next: 'final-dump', reason, detail, prediction: full });
  if (memoryMs <= policy.minSavingMs) {
    return stop(
      'too-small',
      `resident memory ${mib(run.residentBytes)} MiB is written by a full dump in ${msText(full.frozenMs)} at ${rateText}${moveText}: ` +
        `pre-dumps could save at most ${msText(memoryMs)}, not more than policy.minSavingMs (${policy.minSavingMs} ms), so one full dump`,
    );
  }
  if (policy.maxDowntimeMs !== null && full.totalMs <= policy.maxDowntimeMs) {
    return stop('downtime-under-target', `a full dump of ${mib(run.residentBytes)} MiB is predicted at ${msText(full.totalMs)}, within the ${policy.maxDowntimeMs} ms target`);
  }
  return go(`resident memory ${mib(run.residentBytes)} MiB: a full dump is predicted at ${msText(full.totalMs)}${moveText ? ' with its move' : ''}`);
}

/**
 * Decision 3a: after the stored layers moved, whether a catch-up round is worth taking before the
 * final dump, from how long ago the last layer was taken and how fast the process dirties pages.
 */
export function decideCatchUpEntry(
  policy: ConvergencePolicy,
  rates: Rates,
  run: RunShape & { lastLayer: number; sinceLastLayerMs: number },
): DecisionRecord {
  const residentPages = run.residentBytes === null ? null : Math.ceil(run.residentBytes / run.pageSize);
  const pages = dirtiedIn(rates, run.sinceLastLayerMs, residentPages);
  const prediction = pages === null ? null : predictDowntime(rates, run.pageSize, { finalPages: pages, pendingBytes: 0, moving: run.moving, direct: run.direct });
  const at = (next: DecisionRecord['next'], reason: StopReason | null, detail: string) =>
    record('catch-up-entry', run.lastLayer, rates, { next, reason, detail, prediction });
  const age = `the last layer is ${msText(run.sinceLastLayerMs)} old`;
  if (run.dumpNowRequested) return at('final-dump', 'dump-now-requested', 'a dumpNow signal asked for the final dump');
  if (policy.maxCatchUps === 0) return at('final-dump', 'max-catch-ups', 'policy.maxCatchUps is 0');
  if (run.sinceLastLayerMs <= policy.maxLayerAgeMs) {
    return at('final-dump', 'last-layer-fresh', `${age}, within policy.maxLayerAgeMs (${policy.maxLayerAgeMs} ms)`);
  }
  if (prediction !== null && prediction.totalMs - rates.fixedFreezeMs <= policy.minSavingMs) {
    return at('final-dump', 'converged', `${age}; about ${prediction.finalPages} pages dirtied since: ${msText(prediction.totalMs)} predicted, a catch-up could save at most policy.minSavingMs (${policy.minSavingMs} ms)`);
  }
  if (policy.maxDowntimeMs !== null && prediction !== null && prediction.totalMs <= policy.maxDowntimeMs) {
    return at('final-dump', 'downtime-under-target', `${age}; predicted downtime ${msText(prediction.totalMs)} is within the ${policy.maxDowntimeMs} ms target`);
  }
  return at('catch-up', null, `${age}${pages === null ? '' : `; about ${pages} pages dirtied since`}: a catch-up pre-dump first`);
}

export interface CatchUpRound {
  /** Layer index of the catch-up pre-dump. */
  layer: number;
  pagesWritten: number;
  bytes: number;
  durationMs: number;
}

/**
 * Decision 3b, after each catch-up pre-dump (written locally, not yet moved): take the final dump
 * right now, or move this round and take another. Stopping now means the final dump holds what
 * was dirtied while this round ran, and in a migration this round moves inside the downtime too.
 */
export function decideAfterCatchUp(policy: ConvergencePolicy, rates: Rates, run: RunShape & { rounds: readonly CatchUpRound[] }): DecisionRecord {
  const residentPages = run.residentBytes === null ? null : Math.ceil(run.residentBytes / run.pageSize);
  const last = run.rounds[run.rounds.length - 1];
  const prev = run.rounds.length >= 2 ? run.rounds[run.rounds.length - 2] : null;
  const finalPages = dirtiedIn(rates, last.durationMs, residentPages) ?? last.pagesWritten;
  const prediction = predictDowntime(rates, run.pageSize, { finalPages, pendingBytes: last.bytes, moving: run.moving, direct: run.direct });
  const stop = (reason: StopReason, detail: string) => record('catch-up', last.layer, rates, { next: 'final-dump', reason, detail, prediction });
  const n = run.rounds.length;
  const predicted = `predicted downtime ${msText(prediction.totalMs)} (frozen ${msText(prediction.frozenMs)}${run.moving ? `, move ${msText(prediction.moveMs)}` : ''})`;

  if (run.dumpNowRequested) return stop('dump-now-requested', 'a dumpNow signal asked for the final dump');
  if (policy.maxDowntimeMs !== null && prediction.totalMs <= policy.maxDowntimeMs) {
    return stop('downtime-under-target', `catch-up ${n} wrote ${last.pagesWritten} pages; ${predicted} is within the ${policy.maxDowntimeMs} ms target`);
  }
  if (prediction.totalMs - rates.fixedFreezeMs <= policy.minSavingMs) {
    return stop('converged', `catch-up ${n} wrote ${last.pagesWritten} pages; ${predicted}: another round could save at most policy.minSavingMs (${policy.minSavingMs} ms)`);
  }
  if (prev !== null && last.pagesWritten >= prev.pagesWritten * policy.minShrinkRatio) {
    return stop(
      'not-converging',
      `catch-up ${n} wrote ${last.pagesWritten} pages after ${prev.pagesWritten}: the process dirties pages as fast as they move, ` +
        `so more rounds cannot shorten the downtime; ${predicted}`,
    );
  }
  if (n >= policy.maxCatchUps) return stop('max-catch-ups', `reached the maximum of ${policy.maxCatchUps} catch-up pre-dump(s); ${predicted}`);
  // The next round holds what the process dirties while this one ran and, in a migration, moved.
  const roundMs = last.durationMs + (run.moving ? moveMs(rates, last.bytes) : 0);
  const nextPages = dirtiedIn(rates, roundMs, residentPages);
  if (nextPages !== null && nextPages >= last.pagesWritten * policy.minShrinkRatio) {
    const how = run.moving ? `dumping and moving catch-up ${n} (${mib(last.bytes)} MiB) takes` : `catch-up ${n} took`;
    return stop(
      'not-converging',
      `${how} about ${msText(roundMs)}, in which the process dirties about ${nextPages} pages, not fewer than the ${last.pagesWritten} ` +
        `it wrote: more rounds cannot shorten the downtime; ${predicted}`,
    );
  }
  return record('catch-up', last.layer, rates, {
    next: 'catch-up',
    reason: null,
    detail: `catch-up ${n} wrote ${last.pagesWritten} pages; ${predicted}${nextPages === null ? '' : `; the next round should hold about ${nextPages}`}`,
    prediction,
  });
}
