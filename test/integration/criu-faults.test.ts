/**
 * Faults during a CRIU step, injected for real: the images disk fills up in the middle of a final
 * dump (a 1 MiB tmpfs under a 4 MiB process), and the target exits while CRIU is about to freeze
 * it. In both cases the step fails with a clear typed error, nothing that looks like a complete
 * layer is left behind, and a process that is still there is running with its memory intact
 * (a failed final dump must never leave the process killed: its images are not complete).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dump, readLayer } from '../../src/criu';
import { Workload } from '../fixtures/workload/workload';
import { isError, NoSuchProcessError, CriuFailedError } from '../../src/core';

const MIB = 4;
let tmp: string;
let small: string | null = null;
const workloads: Workload[] = [];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-faults-'));
});

afterAll(async () => {
  for (const w of workloads) await w.stop();
  if (small) execFileSync('umount', [small]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function start(): Promise<Workload> {
  const w = await Workload.start({ mib: MIB, dirtyPermille: 10, intervalMs: 50, dir: fs.mkdtempSync(path.join(tmp, 'wl-')) });
  workloads.push(w);
  return w;
}

it('staging disk full during a final dump: a clear failure, the target left running, no layer that looks complete', async () => {
  small = path.join(tmp, 'small');
  fs.mkdirSync(small);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'ferry-test-full', small]);
  const w = await start();
  const imagesDir = path.join(small, 'final');
  const err = await dump({ pid: w.pid, imagesDir }).then(
    () => new Error('expected the dump to fail on a full disk'),
    (e: unknown) => e as Error,
  );
  process.stdout.write(`disk full: ${err.name}: ${err.message}\n`);
  expect(isError(err, CriuFailedError)).toBe(true);
  expect(err.message).toMatch(/CRIU DUMP failed/);
  expect(err.message).toMatch(/No space left on device|ENOSPC|write/i);
  expect(err.message).toMatch(/The process was left running; its images were discarded/);
  // Nothing half-written that could be taken for a layer: no inventory, no pages, no stats.
  const left = fs.readdirSync(imagesDir);
  expect(left.filter((n) => !n.endsWith('.log'))).toEqual([]);
  expect(() => readLayer(imagesDir)).toThrow(/no inventory\.img/);
  expect(w.isRunning()).toBe(true);
  expect(await w.verify()).toMatchObject({ ok: true, bad: 0, pages: (MIB * 1024 * 1024) / 4096 });
});

it('the target exits as CRIU is about to freeze it: NoSuchProcessError, images discarded', async () => {
  const w = await start();
  const imagesDir = path.join(tmp, 'exits');
  const err = await dump(
    { pid: w.pid, imagesDir },
    {
      hooks: {
        preDump: async () => {
          process.kill(w.pid, 'SIGKILL');
          const deadline = Date.now() + 5000;
          while (w.state() !== null && w.state() !== 'Z' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        },
      },
    },
  ).then(
    () => new Error('expected the dump to fail'),
    (e: unknown) => e as Error,
  );
  process.stdout.write(`target exited: ${err.name}: ${err.message}\n`);
  expect(isError(err, NoSuchProcessError) || isError(err, CriuFailedError)).toBe(true);
  expect(err.message).toMatch(new RegExp(`no process with pid ${w.pid}|CRIU DUMP failed`));
  expect(fs.readdirSync(imagesDir).filter((n) => !n.endsWith('.log'))).toEqual([]);
});
