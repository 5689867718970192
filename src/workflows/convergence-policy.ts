/**
 * The decision "pre-dump again, or take the final dump now", as a pure function of the policy and
 * CRIU's statistics of the pre-dumps so far. Deterministic (no clock, no I/O), so it can run in
 * workflow code and be tested on its own.
 *
 * Why these rules: each pre-dump copies the pages dirtied since the previous one while the process
 * keeps running; the final dump then freezes the process only for what is still dirty. Iterating
 * pays off while that set shrinks. It stops paying off when the set is already small, stops
 * shrinking (the process dirties memory as fast as we copy it), or the frozen time it predicts is
 * already within the target.
 */

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
}

export const DEFAULT_POLICY: Readonly<ConvergencePolicy> = {
  maxPreDumps: 3,
  minPagesWritten: 1024,
  minShrinkRatio: 0.9,
  maxDowntimeMs: null,
  requirePreDumps: false,
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
  | 'downtime-under-target';

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

export function decide(
  policy: ConvergencePolicy,
  observations: readonly PreDumpObservation[],
  opts: { dumpNowRequested: boolean; pageSize: number },
): Decision {
  const last = observations[observations.length - 1];
  const predicted = predictDowntimeMs(observations, opts.pageSize);
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
  if (p.requirePreDumps && p.maxPreDumps === 0) return 'policy.requirePreDumps needs policy.maxPreDumps of at least 1';
  return p;
}
