/**
 * `ferry migrate` with real pre-dumps, in the soft-dirty lab (bench/lab-migrate.sh, docs/lab.md):
 * both hosts run their activities (`ferry worker --no-workflows`) inside one qemu guest whose
 * kernel tracks dirty pages, against the dev stack's Temporal and MinIO; the workflow code runs
 * here (`ferry worker --no-activities`). This is the path this project's own hosts cannot run:
 * pre-dumps stored while the process runs, the target prefetching them before the freeze, and only
 * the final layer moved inside the downtime. Everything is real and required (qemu, the kernel
 * package, CRIU, Temporal, MinIO); nothing is skipped.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MigrateResult } from '../../src/workflows/types';

const repo = path.resolve(__dirname, '..', '..');
// Guest build (cold ~1 min), worker start under TCG (~1.5 min), one migration, with margin for load.
jest.setTimeout(900_000);

interface MigrateRun {
  from: string;
  to: string;
  result: MigrateResult;
  verify: { pid: number; ok: boolean; bad: number; pages: number };
}

test('a migration in the lab pre-dumps, prefetches the pre-dumps, and moves only the final layer in the downtime', () => {
  const results = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-lab-migrate-test-'));
  // 32 MiB, 0.1% of pages rewritten per second: slow enough that pages stay clean across the TCG
  // guest's slow steps (its uploads run at a few MiB/s), so the final layer has something to skip.
  const r = spawnSync(
    'bash',
    [path.join(repo, 'bench', 'lab-migrate.sh'), '--mib', '32', '--permille', '1', '--interval-ms', '1000', '--repeats', '1', '--pre-dumps', '2', '--out', 'it', '--results-dir', results],
    { cwd: repo, encoding: 'utf8', env: { ...process.env, FERRY_LAB_TIMEOUT: '780' }, maxBuffer: 64 << 20 },
  );
  if (r.status !== 0) throw new Error(`bench/lab-migrate.sh exited ${r.status}:\n${r.stderr.slice(-6000)}`);
  const raw = JSON.parse(fs.readFileSync(path.join(results, 'it-raw.json'), 'utf8')) as { tasks: Array<{ kind: string; ok: boolean; value: { thp: string; runs: MigrateRun[] } }> };
  const task = raw.tasks.find((t) => t.kind === 'migrate')!;
  expect(task.ok).toBe(true);
  expect(task.value.thp).toBe('madvise');
  const [run] = task.value.runs;
  const m = run!.result;

  // Pre-dumps ran for real: the guest's kernel tracks dirty pages.
  expect(m.checkpoint.preDumps.available).toBe(true);
  expect(m.checkpoint.preDumps.count).toBeGreaterThanOrEqual(1);
  const kinds = m.checkpoint.layers.map((l) => l.kind);
  expect(kinds).toEqual([...Array<string>(m.checkpoint.preDumps.count).fill('pre-dump'), 'dump']);
  const final = m.checkpoint.layers[m.checkpoint.layers.length - 1]!;
  expect(final.parentIndex).toBe(final.index - 1);
  // The final dump referenced pages in its parent instead of writing all of memory again.
  expect(final.stats.pagesSkippedParent).toBeGreaterThan(0);
  expect(final.stats.pagesWritten).toBeLessThan(m.checkpoint.layers[0]!.stats.pagesWritten);

  // The target fetched every pre-dump layer before the freeze, and nothing went wrong doing it.
  expect(m.prefetchProblem).toBeNull();
  expect(m.prefetch).not.toBeNull();
  expect(m.prefetch!.layers).toBe(m.checkpoint.preDumps.count);
  const preDumpBytes = m.checkpoint.layers.filter((l) => l.kind === 'pre-dump').reduce((n, l) => n + l.bytes, 0);
  expect(m.prefetch!.bytes).toBe(preDumpBytes);

  // Restored on the other host of the guest with the same pid, every page as the process wrote it.
  expect(run!.from).toBe('lab-a');
  expect(run!.to).toBe('lab-b');
  expect(m.newPid).toBe(m.pid);
  expect(run!.verify).toMatchObject({ pid: m.newPid, ok: true, bad: 0 });
  expect(m.downtime.totalMs).toBeGreaterThan(0);
  fs.rmSync(results, { recursive: true, force: true });
});
