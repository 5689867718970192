/**
 * ferry as a library, through its package entry points (`ferry`, `ferry/storage`, `ferry/criu`):
 * examples/checkpoint-report.js runs against the dev stack's Temporal and MinIO and reads a local
 * images dir; internals outside the exports map stay private. Run `npm run build` first.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeChain } from '../helpers/storage-fixtures';

const ROOT = path.resolve(__dirname, '..', '..');
const EXAMPLE = path.join(ROOT, 'examples', 'checkpoint-report.js');

let work: string;
beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-lib-'));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

it('the example program reports the store, a local images dir and the schedules through the three entry points', () => {
  const chain = makeChain(1, [64 * 1024], 5, fs.mkdtempSync(path.join(work, 'chain-')));
  const env = { ...process.env };
  delete env.FERRY_DEBUG;
  const r = spawnSync(process.execPath, [EXAMPLE, chain.dirs[0]!], { cwd: work, env, encoding: 'utf8', timeout: 60_000 });
  expect(r.status).toBe(0);
  const report = JSON.parse(r.stdout) as { checkpoints: number; local: { kind: string; pagesPresent: number; rootPid: number }; schedules: unknown[] };
  expect(report.checkpoints).toBeGreaterThanOrEqual(0);
  // The fixture's pagemap lists (64 KiB / 4 KiB) + seed pages; its pstree's root is 4242.
  expect(report.local).toEqual({ kind: 'dump', pagesPresent: 16 + 5, rootPid: 4242 });
  expect(Array.isArray(report.schedules)).toBe(true);
});

it('only the entry points are exported: internals are not reachable by package path', () => {
  const r = spawnSync(process.execPath, ['-e', "require('ferry/dist/cli/main')"], { cwd: ROOT, encoding: 'utf8' });
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  const ok = spawnSync(process.execPath, ['-e', "for (const m of ['ferry', 'ferry/storage', 'ferry/criu']) require(m); console.log('ok')"], { cwd: ROOT, encoding: 'utf8' });
  expect(ok.stdout.trim()).toBe('ok');
});
