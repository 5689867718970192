/**
 * migrate --lazy (post-copy) on the real stack: Temporal dev server, MinIO, real CRIU, a real
 * workload, two host workers in this process. The source's lazy dump serves the pages through the
 * TLS-PSK page tunnel; the target's lazy restore runs the process before they arrived; every page
 * is verified in the restored process; the durable copy (a --leave-running checkpoint on the
 * target) is complete in MinIO.
 *
 * Both hosts are this machine: the source keeps its pid until its last page was served, so the
 * workload runs under the init of its own pid namespace (as `unshare --pid` makes it), which
 * CRIU restores into a new pid namespace on the target side instead of clashing with the pid.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ActivityDeps } from '../../src/activities/deps';
import { LAZY_PIPE_BYTES } from '../../src/criu/lazy-pages';
import { POST_COPY_RISK } from '../../src/core';
import type { MigrateResult } from '../../src/workflows/types';
import { buildWorkload, type VerifyResult } from '../fixtures/workload/workload';
import { connectStack, hostDeps, stagingLeftovers, startWorkers, type RunningWorkers, type Stack } from '../helpers/pipeline-harness';
import { removeTempRoots, tempRoot } from '../helpers/temp-dirs';
import { until } from '../helpers/until';

jest.setTimeout(300_000);

const PIPE_MAX = '/proc/sys/fs/pipe-max-size';
const HOST_A = `it-la-${process.pid}`;
const HOST_B = `it-lb-${process.pid}`;
const MIB = 128;

let stack: Stack;
let workers: RunningWorkers;
let depsA: ActivityDeps;
let depsB: ActivityDeps;
let pipeMaxBefore: string;
let tmp: string;

beforeAll(async () => {
  // CRIU's lazy page server needs a 4 MiB pipe and runs without CAP_SYS_RESOURCE (lazy-pages.ts).
  pipeMaxBefore = fs.readFileSync(PIPE_MAX, 'utf8').trim();
  if (Number(pipeMaxBefore) < LAZY_PIPE_BYTES) fs.writeFileSync(PIPE_MAX, String(LAZY_PIPE_BYTES));
  tmp = tempRoot('lazy-mig');
  stack = await connectStack('lazy');
  depsA = hostDeps(stack, HOST_A);
  depsB = hostDeps(stack, HOST_B);
  workers = await startWorkers(stack, [
    { host: HOST_A, deps: depsA },
    { host: HOST_B, deps: depsB },
  ]);
}, 180_000);

afterAll(async () => {
  for (const pid of oursPids()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await workers?.stop();
  await stack?.close();
  fs.writeFileSync(PIPE_MAX, pipeMaxBefore);
  removeTempRoots();
});

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function parentOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Every process whose command line mentions this test's temp dir: only this test started them. */
function oursPids(): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(tmp)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The workload under the init of a new pid namespace; returns the init's pid (what is migrated). */
async function startInPidNamespace(dir: string): Promise<number> {
  const binary = buildWorkload();
  // The init calls setsid itself: a session led from outside its pid namespace cannot be dumped.
  const script = `"${binary}" --pidfile "${dir}/wl.pid" --result "${dir}/verify.json" --mib ${MIB} --dirty-permille 10 --interval-ms 100; exec sleep 3600`;
  const child = spawn('setsid', ['unshare', '--pid', '--fork', 'setsid', 'sh', '-c', script], { stdio: 'ignore', detached: true });
  child.unref();
  return until('the pid namespace init to exec sleep, with the workload under it', () => {
    for (const pid of oursPids()) {
      try {
        if (comm(pid) === 'workload' && comm(parentOf(pid)) === 'sleep') return parentOf(pid);
      } catch {
        // the launcher, gone meanwhile
      }
    }
    return null;
  }, 10000, 20);
}

/** The workload's own check (workload.verify()'s protocol): SIGUSR1, then its JSON line. */
async function verifyWorkload(pid: number, dir: string): Promise<VerifyResult> {
  const resultFile = path.join(dir, 'verify.json');
  fs.rmSync(resultFile, { force: true });
  process.kill(pid, 'SIGUSR1');
  return until(`a verification from pid ${pid}`, () => {
    try {
      return JSON.parse(fs.readFileSync(resultFile, 'utf8')) as VerifyResult;
    } catch {
      return null;
    }
  }, 20000, 50);
}

test(`migrate --lazy of a ${MIB} MiB workload: runs on the target before its last page, every page intact, the durable copy stored`, async () => {
  const dir = path.join(tmp, 'wl');
  fs.mkdirSync(dir);
  const init = await startInPidNamespace(dir);
  const before = await until('the workload in the namespace', () => oursPids().find((p) => comm(p) === 'workload' && parentOf(p) === init) ?? null, 5000, 20);
  expect((await verifyWorkload(before, dir)).ok).toBe(true);

  const r: MigrateResult = await stack.ferry.migrate({ pid: init, from: HOST_A, to: HOST_B, lazy: true });
  expect(r).toMatchObject({ path: 'post-copy', from: HOST_A, to: HOST_B });
  const pc = r.postCopy!;
  expect(pc.risk).toBe(POST_COPY_RISK);
  // It ran before the memory was all there, and the memory is far more than the images sent first.
  expect(pc.runningOnTargetMs).toBeLessThan(pc.lastPageAtMs);
  expect(pc.tunnelBytes).toBeGreaterThan(MIB * 1024 * 1024);
  expect(pc.imagesBytes).toBeLessThan(4 * 1024 * 1024);
  // The source's process is gone; the restored workload (in a new pid namespace) checks every page.
  await until('one workload left (the source copy gone)', () => (oursPids().filter((p) => comm(p) === 'workload').length === 1 ? true : null), 10000, 20);
  const restoredWorkload = await until('the restored workload', () => oursPids().find((p) => comm(p) === 'workload' && parentOf(p) === r.newPid) ?? null, 10000, 20);
  expect(await verifyWorkload(restoredWorkload, dir)).toMatchObject({ ok: true, bad: 0, pages: (MIB * 1024 * 1024) / 4096 });
  // The durable copy: a complete checkpoint of the process on the target, which kept running.
  expect(r.checkpoint).toMatchObject({ host: HOST_B, pid: r.newPid, leftRunning: true });
  expect(pc.durableCopy.checkpointId).toBe(r.checkpointId);
  expect((await stack.store.readManifest(r.checkpointId)).complete).toBe(true);
  expect(pc.durableCopy.frozenMs).toBeGreaterThan(0);
  expect(fs.existsSync(`/proc/${r.newPid}`)).toBe(true);
  expect(stagingLeftovers(depsA)).toEqual([]);
  expect(stagingLeftovers(depsB)).toEqual([]);
  process.stdout.write(
    `[numbers] migrate --lazy ${MIB} MiB: running on target ${pc.runningOnTargetMs} ms after the freeze, last page ${pc.lastPageAtMs} ms; ` +
      `downtime parts ${JSON.stringify(r.downtime.parts)}; tunnel ${pc.tunnelBytes} B, images ${pc.imagesBytes} B; ` +
      `durable copy froze ${pc.durableCopy.frozenMs} ms, stored ${pc.durableCopy.storedAtMs} ms after the freeze\n`,
  );
  process.kill(r.newPid, 'SIGKILL'); // the namespace's init: its whole tree goes
});

test('a source whose pipes are too small for CRIU\'s page server: the migration fails and the process keeps running on the source, every page intact', async () => {
  const dir = path.join(tmp, 'wl-small-pipe');
  fs.mkdirSync(dir);
  const init = await startInPidNamespace(dir);
  // The one under the init (the launcher that forked it may not have exited yet).
  const workload = await until('the workload in the namespace', () => oursPids().find((p) => comm(p) === 'workload' && parentOf(p) === init) ?? null, 5000, 20);
  fs.writeFileSync(PIPE_MAX, '1048576');
  let err: unknown;
  try {
    err = await stack.ferry.migrate({ pid: init, from: HOST_A, to: HOST_B, lazy: true }).catch((e: unknown) => e);
  } finally {
    fs.writeFileSync(PIPE_MAX, String(LAZY_PIPE_BYTES));
  }
  expect((err as { failureType?: string }).failureType).toBe('PostCopyFailed');
  expect((err as Error).message).toMatch(/CRIU resumed (it|the process) on it-la-/);
  process.stdout.write(`[numbers] small pipe: ${(err as Error).message}\n`);
  // The source's process runs again (CRIU resumed it), with its memory whole; no copy is left on the target.
  await until(`pid ${workload} running again`, () => (['R', 'S'].includes(fs.readFileSync(`/proc/${workload}/stat`, 'utf8').split(') ')[1]![0]!) ? true : null), 10000, 20);
  expect(await verifyWorkload(workload, dir)).toMatchObject({ ok: true, bad: 0, pages: (MIB * 1024 * 1024) / 4096 });
  await until('no other copy of the workload', () => (oursPids().filter((p) => comm(p) === 'workload' && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir)).length === 1 ? true : null), 10000, 20);
  // The target's CRIU, stuck after the lazy-pages daemon failed, was not left behind.
  const stuck = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e) && comm(Number(e)) === 'criu').filter((e) => {
    try {
      return fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(stack.stagingRoot);
    } catch {
      return false;
    }
  });
  expect(stuck).toEqual([]);
  expect(stagingLeftovers(depsA)).toEqual([]);
  expect(stagingLeftovers(depsB)).toEqual([]);
});
