import { DEFAULT_POLICY, decide, normalizePolicy, predictDowntimeMs, type ConvergencePolicy, type PreDumpObservation } from '../../src/workflows/convergence-policy';

const PAGE = 4096;
const policy = (p: Partial<ConvergencePolicy> = {}): ConvergencePolicy => ({ ...DEFAULT_POLICY, ...p });
// 1 us per page = 4096 bytes/us, so predicted downtime (ms) = pagesWritten / 1000.
const obs = (...pages: number[]): PreDumpObservation[] => pages.map((p) => ({ pagesWritten: p, memdumpTimeUs: p }));
const run = (p: ConvergencePolicy, o: PreDumpObservation[], dumpNowRequested = false) => decide(p, o, { dumpNowRequested, pageSize: PAGE });

describe('convergence policy', () => {
  test('keeps pre-dumping while the dirty set shrinks and no rule fires', () => {
    expect(run(policy({ maxPreDumps: 5 }), [])).toEqual({ action: 'pre-dump', predictedDowntimeMs: null });
    expect(run(policy({ maxPreDumps: 5 }), obs(50000, 20000)).action).toBe('pre-dump');
  });

  test('stops at the maximum number of pre-dumps', () => {
    const d = run(policy({ maxPreDumps: 2 }), obs(50000, 20000));
    expect(d).toMatchObject({ action: 'dump', reason: 'max-pre-dumps' });
    expect(run(policy({ maxPreDumps: 0 }), [])).toMatchObject({ action: 'dump', reason: 'max-pre-dumps' });
  });

  test('stops when a pre-dump wrote fewer pages than the threshold', () => {
    const d = run(policy({ maxPreDumps: 10, minPagesWritten: 1000 }), obs(50000, 999));
    expect(d).toMatchObject({ action: 'dump', reason: 'pages-under-threshold' });
    expect(run(policy({ maxPreDumps: 10, minPagesWritten: 1000 }), obs(50000, 1000)).action).toBe('pre-dump');
  });

  test('stops when the dirty set stops shrinking', () => {
    const p = policy({ maxPreDumps: 10, minPagesWritten: 10, minShrinkRatio: 0.9 });
    expect(run(p, obs(50000, 20000, 19000))).toMatchObject({ action: 'dump', reason: 'not-shrinking' });
    // Growing is not shrinking either.
    expect(run(p, obs(50000, 20000, 25000))).toMatchObject({ action: 'dump', reason: 'not-shrinking' });
    expect(run(p, obs(50000, 20000, 17999)).action).toBe('pre-dump');
  });

  test('stops when the predicted final downtime is within the target', () => {
    const p = policy({ maxPreDumps: 10, minPagesWritten: 10, maxDowntimeMs: 30 });
    // 40000 pages at 1 us/page -> 40 ms: over target; 25000 -> 25 ms: within.
    expect(run(p, obs(100000, 40000)).action).toBe('pre-dump');
    const d = run(p, obs(100000, 40000, 25000));
    expect(d).toMatchObject({ action: 'dump', reason: 'downtime-under-target' });
    expect(d.predictedDowntimeMs).toBeCloseTo(25, 5);
  });

  test('a dumpNow request wins over every other rule', () => {
    expect(run(policy({ maxPreDumps: 10 }), [], true)).toMatchObject({ action: 'dump', reason: 'dump-now-requested' });
  });

  test('prediction uses the latest measurable rate', () => {
    // Second pre-dump too fast to time (0 us): fall back to the first one's rate (2 us/page).
    const o: PreDumpObservation[] = [
      { pagesWritten: 1000, memdumpTimeUs: 2000 },
      { pagesWritten: 500, memdumpTimeUs: 0 },
    ];
    expect(predictDowntimeMs(o, PAGE)).toBeCloseTo(1, 5);
    expect(predictDowntimeMs([], PAGE)).toBeNull();
  });

  test('normalizePolicy fills defaults and rejects nonsense', () => {
    expect(normalizePolicy(undefined)).toEqual(DEFAULT_POLICY);
    expect(normalizePolicy({ maxPreDumps: 2 })).toEqual({ ...DEFAULT_POLICY, maxPreDumps: 2 });
    expect(normalizePolicy({ maxPreDumps: -1 })).toMatch(/maxPreDumps/);
    expect(normalizePolicy({ maxDowntimeMs: 0 })).toMatch(/maxDowntimeMs/);
    expect(normalizePolicy({ minShrinkRatio: 1.5 })).toMatch(/minShrinkRatio/);
    expect(normalizePolicy({ requirePreDumps: true, maxPreDumps: 0 })).toMatch(/requirePreDumps/);
  });
});
