/**
 * `ferry migrate` with real pre-dumps, in the soft-dirty lab (bench/lab-migrate.sh, docs/lab.md):
 * both hosts run their activities (`ferry worker --no-workflows`) inside one qemu guest whose
 * kernel tracks dirty pages, against the dev stack's Temporal and MinIO; the workflow code runs
 * here (`ferry worker --no-activities`). This is the path this project's own hosts cannot run:
 * pre-dumps stored while the process runs, the target prefetching them before the freeze, and only
 * the final layer moved inside the downtime. Everything is real and required (qemu, the kernel
 * package, CRIU, Temporal, MinIO); nothing is skipped.
 *
 * The same boot (the workers' start under TCG is the slow part) then runs the convergence cases
 * on workloads of their own: a checkpoint with catch-up rounds, a process too small for
 * pre-dumps, and a migration of a process that dirties memory faster than the guest moves it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CheckpointResult, LayerSummary, MigrateResult, PreDumpOutcome } from '../../src/workflows/types';

const repo = path.resolve(__dirname, '..', '..');
// Guest build (cold ~1 min), worker start under TCG (~1.5 min), one migration and three extra
// runs (~5 min), with margin for load.
jest.setTimeout(1_800_000);

interface Verify {
  pid: number;
  ok: boolean;
  bad: number;
  pages: number;
}

interface MigrateRun {
  from: string;
  to: string;
  result: MigrateResult;
  verify: Verify;
}

interface ExtraRun {
  name: string;
  command: 'migrate' | 'checkpoint';
  pid: number;
  result: MigrateResult | CheckpointResult;
  verify: Verify;
}

const EXTRA_RUNS = [
  // 64 MiB, 2 % of pages per second: the upload of the first pre-dumps takes tens of seconds under
  // TCG, so the first catch-up has plenty to take; the ones after it only what one round dirtied.
  { name: 'checkpoint-catch-up', command: 'checkpoint', workload: { mib: 64, dirtyPermille: 20, intervalMs: 1000 }, args: ['--pre-dumps', '2', '--min-saving', '10'] },
  { name: 'too-small', command: 'checkpoint', workload: { mib: 1, dirtyPermille: 1, intervalMs: 1000 } },
  // 32 MiB, 5 % every 200 ms: 8 MiB/s of dirty pages, faster than the guest moves layers.
  { name: 'not-converging', command: 'migrate', workload: { mib: 32, dirtyPermille: 50, intervalMs: 200 }, args: ['--pre-dumps', '2'] },
];

/** The catch-up layers of a result: the pre-dumps after the back-to-back ones. */
function catchUpLayers(layers: LayerSummary[], preDumps: PreDumpOutcome): LayerSummary[] {
  return layers.filter((l) => l.kind === 'pre-dump').slice(preDumps.count);
}

/**
 * Rounds go on only while each is smaller than the one before; the round that is not ends them
 * as "not-converging". So every round but the last shrank, and the last did too unless that is
 * why they stopped.
 */
function expectShrinkingRounds(rounds: LayerSummary[], preDumps: PreDumpOutcome): void {
  const pages = rounds.map((l) => l.stats.pagesWritten);
  for (let i = 1; i < pages.length - 1; i++) expect(pages[i]).toBeLessThan(pages[i - 1]!);
  if (pages.length >= 2 && preDumps.stopReason !== 'not-converging') expect(pages[pages.length - 1]).toBeLessThan(pages[pages.length - 2]!);
}

/** The final dump came straight after the last catch-up: nothing ran between them but the decision. */
function expectFinalRightAfter(layers: LayerSummary[], preDumps: PreDumpOutcome): void {
  const decisions = preDumps.decisions!;
  const last = decisions[decisions.length - 1]!;
  expect(last).toMatchObject({ at: 'catch-up', next: 'final-dump', afterLayer: layers[layers.length - 2]!.index });
  expect(layers[layers.length - 1]!.parentIndex).toBe(last.afterLayer);
}

test('a migration in the lab pre-dumps, catches up, prefetches every stored round, and converges; checkpoints catch up, skip or stop as the rules say', () => {
  const results = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-lab-migrate-test-'));
  // 32 MiB, 0.1% of pages rewritten per second: slow enough that pages stay clean across the TCG
  // guest's slow steps (its uploads run at a few MiB/s), so the final layer has something to skip.
  const r = spawnSync(
    'bash',
    [
      path.join(repo, 'bench', 'lab-migrate.sh'),
      ...['--mib', '32', '--permille', '1', '--interval-ms', '1000', '--repeats', '1', '--pre-dumps', '2', '--out', 'it', '--results-dir', results],
      ...['--runs', JSON.stringify(EXTRA_RUNS)],
    ],
    { cwd: repo, encoding: 'utf8', env: { ...process.env, FERRY_LAB_TIMEOUT: '1560' }, maxBuffer: 64 << 20 },
  );
  if (r.status !== 0) throw new Error(`bench/lab-migrate.sh exited ${r.status}:\n${r.stderr.slice(-6000)}`);
  const raw = JSON.parse(fs.readFileSync(path.join(results, 'it-raw.json'), 'utf8')) as {
    tasks: Array<{ kind: string; ok: boolean; value: { thp: string; runs: MigrateRun[]; extraRuns: ExtraRun[] } }>;
  };
  const task = raw.tasks.find((t) => t.kind === 'migrate')!;
  expect(task.ok).toBe(true);
  expect(task.value.thp).toBe('madvise');
  const [run] = task.value.runs;
  const m = run!.result;

  // Pre-dumps ran for real (the guest's kernel tracks dirty pages), then catch-up rounds of what
  // the process dirtied while the first ones moved, the final dump straight after the last.
  const pd = m.checkpoint.preDumps;
  expect(pd.available).toBe(true);
  expect(pd.count).toBeGreaterThanOrEqual(1);
  expect(pd.catchUps).toBeGreaterThanOrEqual(1);
  const kinds = m.checkpoint.layers.map((l) => l.kind);
  expect(kinds).toEqual([...Array<string>(pd.count + pd.catchUps!).fill('pre-dump'), 'dump']);
  const rounds = catchUpLayers(m.checkpoint.layers, pd);
  expectShrinkingRounds(rounds, pd);
  expectFinalRightAfter(m.checkpoint.layers, pd);
  const final = m.checkpoint.layers[m.checkpoint.layers.length - 1]!;
  // The final dump referenced pages in its parent instead of writing all of memory again.
  expect(final.stats.pagesSkippedParent).toBeGreaterThan(0);
  expect(final.stats.pagesWritten).toBeLessThan(m.checkpoint.layers[0]!.stats.pagesWritten);
  // Every decision says what it predicted, with transfer rates measured on this run's own moves.
  const lastDecision = pd.decisions![pd.decisions!.length - 1]!;
  expect(lastDecision.prediction!.moveMs).toBeGreaterThan(0);
  expect(lastDecision.rates.sources).toMatchObject({ upload: 'this-run', download: 'this-run' });

  // The target fetched every stored layer before the freeze (all but the last catch-up, which the
  // final dump followed at once), and nothing went wrong doing it.
  expect(m.prefetchProblem).toBeNull();
  expect(m.prefetch).not.toBeNull();
  const prefetched = m.checkpoint.layers.filter((l) => l.kind === 'pre-dump').slice(0, -1);
  expect(m.prefetch!.layers).toBe(prefetched.length);
  expect(m.prefetch!.bytes).toBe(prefetched.reduce((n, l) => n + l.bytes, 0));
  // The last catch-up and the final dump went straight from lab-a's worker to lab-b's (TLS),
  // nothing was downloaded inside the downtime, and the checkpoint was stored after the restore.
  expect(m).toMatchObject({ path: 'direct', directProblem: null });
  expect(m.direct!.layersSent).toEqual(m.checkpoint.layers.slice(-2).map((l) => l.index));
  expect(m.restore.bytesDownloaded).toBe(0);
  expect(m.downtime.parts).toMatchObject({ uploadMs: 0, downloadMs: 0 });

  // Restored on the other host of the guest with the same pid, every page as the process wrote it.
  expect(run!.from).toBe('lab-a');
  expect(run!.to).toBe('lab-b');
  expect(m.newPid).toBe(m.pid);
  expect(run!.verify).toMatchObject({ pid: m.newPid, ok: true, bad: 0 });
  expect(m.downtime.totalMs).toBeGreaterThan(0);

  const extra = new Map(task.value.extraRuns.map((x) => [x.name, x]));
  for (const x of task.value.extraRuns) expect(x.verify).toMatchObject({ pid: x.pid, ok: true, bad: 0 });

  // A checkpoint catches up too: its rounds follow each other at once and shrink.
  const ck = extra.get('checkpoint-catch-up')!.result as CheckpointResult;
  expect(ck.preDumps.catchUps).toBeGreaterThanOrEqual(1);
  const ckRounds = catchUpLayers(ck.layers, ck.preDumps);
  expectShrinkingRounds(ckRounds, ck.preDumps);
  expectFinalRightAfter(ck.layers, ck.preDumps);
  expect(ck.layers[ck.layers.length - 1]!.stats.pagesWritten).toBeLessThan(ckRounds[0]!.stats.pagesWritten);

  // 1 MiB: pre-dumps cannot save anything worth their cost; one full dump, and the numbers why.
  const small = extra.get('too-small')!.result as CheckpointResult;
  expect(small.preDumps).toMatchObject({ available: true, count: 0, catchUps: 0, stopReason: 'too-small' });
  expect(small.preDumps.detail).toMatch(/resident memory \d+\.\d MiB is written by a full dump in \d+ ms/);
  expect(small.layers.map((l) => l.kind)).toEqual(['dump']);

  // 8 MiB/s of dirty pages against a guest that moves a few MiB/s: the rounds stop as not converging.
  const fast = extra.get('not-converging')!.result as MigrateResult;
  expect(fast.checkpoint.preDumps.stopReason).toBe('not-converging');
  expect(fast.checkpoint.preDumps.detail).toMatch(/dirties/);
  expect(fast.newPid).toBe(fast.pid);
  fs.rmSync(results, { recursive: true, force: true });
});
