/**
 * The convergence decisions that count what the downtime holds (downtime-model.ts and the start,
 * catch-up entry and after-catch-up rules of convergence-policy.ts), fed with the numbers of the
 * lab runs that issue 12 reported: 1 GiB at 0.5 % and 2 % of pages per 200 ms, 4 GiB with 29.8 s
 * between the last pre-dump and the final dump, a 128 MiB migration at a few MiB/s.
 */
import { DEFAULT_POLICY, decideAfterCatchUp, decideCatchUpEntry, decideStart, type CatchUpRound, type ConvergencePolicy, type RunShape } from '../../src/workflows/convergence-policy';
import { ASSUMED_DUMP_MIB_PER_S, predictDowntime, ratesOf, type LayerObservation, type Measurements } from '../../src/workflows/downtime-model';

const PAGE = 4096;
const MIB = 1024 * 1024;
const GIB_PAGES = (1024 * MIB) / PAGE;
const mibps = (n: number) => (n * MIB) / 1000; // bytes per ms
const policy = (p: Partial<ConvergencePolicy> = {}): ConvergencePolicy => ({ ...DEFAULT_POLICY, ...p });

/**
 * A layer of `pages` taken at `atMs`: frozen 200 ms besides collecting its pages, then writing
 * them after the freeze, `mibPerS` for the two together.
 */
function layer(pages: number, atMs: number, mibPerS: number): LayerObservation {
  const pageMs = (pages * PAGE) / mibps(mibPerS);
  const memdumpTimeUs = Math.round(pageMs * 250); // a quarter of the page time while frozen
  const frozenTimeUs = memdumpTimeUs + 200_000;
  return { pagesWritten: pages, memdumpTimeUs, frozenTimeUs, startedAtMs: atMs, durationMs: Math.round(frozenTimeUs / 1000 + pageMs * 0.75) };
}

function measurements(m: Partial<Measurements> = {}): Measurements {
  return { pageSize: PAGE, layers: [], uploads: [], prefetches: [], host: { dumpBytesPerMs: null, uploadBytesPerMs: null }, residentBytes: null, ...m };
}

const shape = (s: Partial<RunShape> = {}): RunShape => ({ pageSize: PAGE, moving: false, residentBytes: null, dumpNowRequested: false, ...s });

describe('downtime model', () => {
  test('rates come from this run first, then the host, then the stated assumption', () => {
    expect(ratesOf(measurements()).dumpSource).toBe('assumed');
    expect(ratesOf(measurements()).dumpBytesPerMs).toBeCloseTo(mibps(ASSUMED_DUMP_MIB_PER_S));
    const host = ratesOf(measurements({ host: { dumpBytesPerMs: mibps(500), uploadBytesPerMs: mibps(50) } }));
    expect([host.dumpSource, host.uploadSource, host.downloadSource]).toEqual(['host', 'host', 'host']);
    expect(host.uploadBytesPerMs).toBeCloseTo(mibps(50));
    const run = ratesOf(
      measurements({ layers: [layer(1000, 0, 160)], uploads: [{ bytes: 10 * MIB, durationMs: 2000 }], prefetches: [{ bytes: 10 * MIB, durationMs: 4000 }], host: { dumpBytesPerMs: mibps(500), uploadBytesPerMs: mibps(50) } }),
    );
    expect(run.dumpSource).toBe('this-run');
    expect(run.dumpBytesPerMs / mibps(160)).toBeCloseTo(1, 1);
    expect(run.uploadBytesPerMs).toBeCloseTo(mibps(5));
    expect(run.downloadBytesPerMs).toBeCloseTo(mibps(2.5));
  });

  test('the dump rate counts the writing a pre-dump does after the freeze, which a final dump does while frozen', () => {
    // 25600 pages (100 MiB): collected in 100 ms while frozen, written in the 900 ms after.
    const l: LayerObservation = { pagesWritten: 25600, memdumpTimeUs: 100_000, frozenTimeUs: 300_000, startedAtMs: 0, durationMs: 1200 };
    expect(ratesOf(measurements({ layers: [l] })).dumpBytesPerMs).toBeCloseTo(mibps(100));
    expect(ratesOf(measurements({ layers: [l] })).fixedFreezeMs).toBe(200);
  });

  test('the dump rate comes from the latest layer of some size: scattered pages cost more, a tiny layer is mostly fixed cost', () => {
    const full = layer(GIB_PAGES, 0, 160);
    // Lab, 1 GiB at 0.5 %: a catch-up of 25155 scattered pages took 4.6 s, 57 us a page.
    const scattered = layer(25155, 9000, 17);
    // 100 pages in a 1.2 s step (criu swrk start-up under emulation): 0.3 MiB/s if taken as a rate.
    const tiny: LayerObservation = { pagesWritten: 100, memdumpTimeUs: 1000, frozenTimeUs: 200_000, startedAtMs: 20_000, durationMs: 1200 };
    expect(ratesOf(measurements({ layers: [full, tiny] })).dumpBytesPerMs / mibps(160)).toBeCloseTo(1, 1);
    expect(ratesOf(measurements({ layers: [full, scattered, tiny] })).dumpBytesPerMs / mibps(17)).toBeCloseTo(1, 1);
  });

  test('the dirty rate is the pages of a layer over the time since the layer before it', () => {
    // 1 GiB, 0.5 % of pages per 200 ms = 1311 pages per 200 ms.
    const r = ratesOf(measurements({ layers: [layer(GIB_PAGES, 0, 160), layer(6555, 1000, 160)] }));
    expect(r.dirtyPagesPerMs).toBeCloseTo(6.555, 3);
    expect(ratesOf(measurements({ layers: [layer(GIB_PAGES, 0, 160)] })).dirtyPagesPerMs).toBeNull();
  });

  test('a prediction is the fixed freeze, writing the pages, and where the process moves, both transfers', () => {
    const r = ratesOf(measurements({ layers: [layer(25600, 0, 100)], uploads: [{ bytes: 4 * MIB, durationMs: 1000 }], prefetches: [{ bytes: 2 * MIB, durationMs: 1000 }] }));
    // 100 MiB/s dump: 25600 pages (100 MiB) in 1000 ms, plus 200 ms fixed.
    expect(predictDowntime(r, PAGE, { finalPages: 25600, pendingBytes: 0, moving: false })).toEqual({ finalPages: 25600, frozenMs: 1200, moveMs: 0, totalMs: 1200 });
    // Moving 100 MiB + 4 MiB pending at 4 MiB/s up and 2 MiB/s down: 26 s + 52 s.
    const moved = predictDowntime(r, PAGE, { finalPages: 25600, pendingBytes: 4 * MIB, moving: true });
    expect(moved.moveMs).toBeCloseTo(78000, 0);
    expect(moved.totalMs).toBeCloseTo(79200, 0);
    // On migrate's direct path the final layers make one hop, at the rate this host sends at: 26 s.
    expect(predictDowntime(r, PAGE, { finalPages: 25600, pendingBytes: 4 * MIB, moving: true, direct: true }).moveMs).toBeCloseTo(26000, 0);
  });
});

describe('start: no pre-dump where it cannot shorten the downtime', () => {
  test('a process of a few MiB takes one full dump, and says why with the numbers', () => {
    const d = decideStart(policy(), ratesOf(measurements()), shape({ residentBytes: 4 * MIB }));
    expect(d).toMatchObject({ at: 'start', next: 'final-dump', reason: 'too-small' });
    expect(d.detail).toMatch(/resident memory 4\.0 MiB .* 16 ms at 256 MiB\/s \(assumed rate\).*at most 16 ms.*minSavingMs \(100 ms\)/);
  });

  test('what must move counts: the same 16 MiB is too small to checkpoint but worth pre-dumping to migrate', () => {
    const rates = ratesOf(measurements({ host: { dumpBytesPerMs: null, uploadBytesPerMs: mibps(4) } }));
    expect(decideStart(policy(), rates, shape({ residentBytes: 16 * MIB })).reason).toBe('too-small');
    const migrating = decideStart(policy(), rates, shape({ residentBytes: 16 * MIB, moving: true }));
    expect(migrating.next).toBe('pre-dump');
    expect(migrating.detail).toMatch(/with its move/);
  });

  test('a full dump within the goal needs no pre-dump; a large process gets them; unknown size changes nothing', () => {
    const rates = ratesOf(measurements());
    expect(decideStart(policy({ maxDowntimeMs: 5000 }), rates, shape({ residentBytes: 512 * MIB })).reason).toBe('downtime-under-target');
    expect(decideStart(policy(), rates, shape({ residentBytes: 1024 * MIB })).next).toBe('pre-dump');
    expect(decideStart(policy(), rates, shape()).next).toBe('pre-dump');
  });
});

describe('catch-up entry: a stale last layer gets a catch-up before the final dump', () => {
  // Lab, 4 GiB, 0.5 % per 200 ms: 29.8 s between pre-dump 2 and the final dump, 64 % rewritten.
  const fourGiB = 4 * GIB_PAGES;
  const rates = ratesOf(measurements({ layers: [layer(fourGiB, 0, 160), layer(30000, 6000, 160)] }));
  const entry = (since: number, p: Partial<ConvergencePolicy> = {}, s: Partial<RunShape> = {}) =>
    decideCatchUpEntry(policy(p), rates, { ...shape({ residentBytes: fourGiB * PAGE, ...s }), lastLayer: 1, sinceLastLayerMs: since });

  test('29.8 s after the last pre-dump: catch up first, with the pages it expects', () => {
    const d = entry(29800);
    expect(d.next).toBe('catch-up');
    expect(d.prediction!.finalPages).toBe(149000); // 5 pages/ms for 29.8 s
    expect(d.detail).toMatch(/29800 ms old; about 149000 pages dirtied since/);
  });

  test('a fresh last layer, a dumpNow, or maxCatchUps 0 go straight to the final dump', () => {
    expect(entry(800)).toMatchObject({ next: 'final-dump', reason: 'last-layer-fresh' });
    expect(entry(29800, {}, { dumpNowRequested: true })).toMatchObject({ next: 'final-dump', reason: 'dump-now-requested' });
    expect(entry(29800, { maxCatchUps: 0 })).toMatchObject({ next: 'final-dump', reason: 'max-catch-ups' });
  });

  test('when what was dirtied since is within the saving floor or the goal, no catch-up', () => {
    expect(entry(1500, { minSavingMs: 1000 })).toMatchObject({ next: 'final-dump', reason: 'converged' });
    expect(entry(29800, { maxDowntimeMs: 60_000 })).toMatchObject({ next: 'final-dump', reason: 'downtime-under-target' });
  });

  test('a warm chain from last night (no dirty rate measured yet) gets its catch-up', () => {
    const warm = ratesOf(measurements());
    const d = decideCatchUpEntry(policy(), warm, { ...shape(), lastLayer: 4, sinceLastLayerMs: 8 * 3600_000 });
    expect(d).toMatchObject({ next: 'catch-up', prediction: null });
  });
});

describe('after a catch-up: go on while rounds shrink, stop when they cannot', () => {
  /** Rounds of `pages`, each taking the time CRIU needs at 160 MiB/s plus 300 ms. */
  const rounds = (...pages: number[]): CatchUpRound[] => pages.map((p, i) => ({ layer: 2 + i, pagesWritten: p, bytes: p * PAGE, durationMs: Math.round((p * PAGE) / mibps(160)) + 300 }));
  function ratesWith(dirtyPerMs: number, transferMiBps: number) {
    // Two layers 1000 ms apart, the second holding dirtyPerMs * 1000 pages.
    const m = measurements({
      layers: [layer(GIB_PAGES, 0, 160), layer(Math.round(dirtyPerMs * 1000), 1000, 160)],
      uploads: [{ bytes: transferMiBps * MIB, durationMs: 1000 }],
      prefetches: [{ bytes: transferMiBps * MIB, durationMs: 1000 }],
    });
    return ratesOf(m);
  }

  test('1 GiB, 0.5 % per 200 ms, checkpoint: the next round is smaller, so another one', () => {
    const d = decideAfterCatchUp(policy({ minSavingMs: 50 }), ratesWith(6.555, 100), { ...shape({ residentBytes: 1024 * MIB }), rounds: rounds(36000) });
    expect(d.next).toBe('catch-up');
    expect(d.prediction!.finalPages).toBeLessThan(36000);
  });

  test('the rounds shrink to what the process dirties while one runs, then the saving floor stops them', () => {
    const r = ratesWith(6.555, 100);
    const d = decideAfterCatchUp(policy(), r, { ...shape({ residentBytes: 1024 * MIB }), rounds: rounds(36000, 9000, 2700) });
    // 2700 pages take 366 ms, in which the process dirties about 2400: frozen 200 + 60 ms.
    expect(d).toMatchObject({ next: 'final-dump', reason: 'converged' });
    expect(d.prediction!.frozenMs).toBeLessThan(300);
  });

  test('1 GiB, 2 % per 200 ms, migration at 4 MiB/s: the process dirties faster than the link moves', () => {
    const d = decideAfterCatchUp(policy(), ratesWith(26.2, 4), { ...shape({ residentBytes: 1024 * MIB, moving: true }), rounds: rounds(50000) });
    expect(d).toMatchObject({ next: 'final-dump', reason: 'not-converging' });
    expect(d.detail).toMatch(/dumping and moving catch-up 1 \(195\.3 MiB\) takes about \d+ ms, in which the process dirties about 262144 pages/);
  });

  test('a round that did not shrink ends the rounds as not converging', () => {
    const d = decideAfterCatchUp(policy(), ratesWith(26.2, 4), { ...shape({ residentBytes: 1024 * MIB, moving: true }), rounds: rounds(50000, 48000) });
    expect(d).toMatchObject({ next: 'final-dump', reason: 'not-converging' });
    expect(d.detail).toMatch(/catch-up 2 wrote 48000 pages after 50000/);
  });

  test('lab migration, 128 MiB at 0.1 % per 200 ms and 3.5 MiB/s: rounds shrink until the cap', () => {
    const r = ratesWith(0.164, 3.5);
    const run = { ...shape({ residentBytes: 128 * MIB, moving: true }) };
    expect(decideAfterCatchUp(policy(), r, { ...run, rounds: rounds(6500) }).next).toBe('catch-up');
    expect(decideAfterCatchUp(policy(), r, { ...run, rounds: rounds(6500, 2500) }).next).toBe('catch-up');
    const last = decideAfterCatchUp(policy(), r, { ...run, rounds: rounds(6500, 2500, 950) });
    expect(last).toMatchObject({ next: 'final-dump', reason: 'max-catch-ups' });
    // What stays for the downtime: the last round and the pages dirtied while it ran, moved both ways.
    expect(last.prediction!.moveMs).toBeGreaterThan(0);
    expect(last.prediction!.finalPages).toBeLessThan(950);
  });

  test('a goal met ends the rounds; so does dumpNow', () => {
    const r = ratesWith(0.164, 3.5);
    const run = { ...shape({ residentBytes: 128 * MIB, moving: true }), rounds: rounds(6500, 2500) };
    expect(decideAfterCatchUp(policy({ maxDowntimeMs: 10_000 }), r, run)).toMatchObject({ next: 'final-dump', reason: 'downtime-under-target' });
    expect(decideAfterCatchUp(policy(), r, { ...run, dumpNowRequested: true })).toMatchObject({ next: 'final-dump', reason: 'dump-now-requested' });
  });

  test('every decision carries the rates it used, in MiB/s and pages/s', () => {
    const d = decideAfterCatchUp(policy(), ratesWith(6.555, 100), { ...shape(), rounds: rounds(36000) });
    expect(d.rates).toMatchObject({ dumpMiBps: 160, dirtyPagesPerS: 6555, uploadMiBps: 100, downloadMiBps: 100, sources: { dump: 'this-run', upload: 'this-run', download: 'this-run' } });
  });
});
