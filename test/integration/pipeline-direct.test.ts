/**
 * migrate's direct path on the real stack (Temporal dev server, MinIO, real CRIU on a real
 * workload): host A's worker runs in this process, host B's as its own `ferry worker` process, so
 * the final layers cross a real TLS connection between two processes and B can be killed for real.
 *
 * - A -> B direct: the process runs on B with every page intact, and the checkpoint is stored
 *   (complete in MinIO) after the restore; back B -> A with direct off goes through the store.
 * - B dies during the direct transfer: the process is restored on A, the checkpoint stays stored.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ActivityDeps } from '../../src/activities/deps';
import type { MigrateResult } from '../../src/workflows/types';
import { Workload } from '../fixtures/workload/workload';
import { connectStack, hostDeps, spawnWorker, stackEnv, stagingLeftovers, startWorkers, type RunningWorkers, type Stack, type WorkerProcess } from '../helpers/pipeline-harness';
import { until } from '../helpers/until';

jest.setTimeout(300_000);

let stack: Stack;
let workers: RunningWorkers;
let depsA: ActivityDeps;
let workerB: WorkerProcess | null = null;
const HOST_A = `it-da-${process.pid}`;
const HOST_B = `it-db-${process.pid}`;
const workloads: Workload[] = [];

beforeAll(async () => {
  stack = await connectStack('direct');
  depsA = hostDeps(stack, HOST_A);
  workers = await startWorkers(stack, [{ host: HOST_A, deps: depsA }]);
}, 180_000);

afterAll(async () => {
  for (const w of workloads) await w.stop().catch(() => undefined);
  await workerB?.stop();
  await workers?.stop();
  await stack?.close();
});

async function startB(): Promise<WorkerProcess> {
  workerB = await spawnWorker(stack, HOST_B, stackEnv(stack), ['--no-workflows']);
  return workerB;
}

async function startWorkload(mib: number): Promise<Workload> {
  const w = await Workload.start({ mib, dirtyPermille: 10, intervalMs: 100 });
  workloads.push(w);
  return w;
}

const stagingOf = (host: string) => path.join(stack.stagingRoot, host);

test('A -> B sends the final layer straight to B, restores there, then stores the checkpoint; back with --no-direct goes through the store', async () => {
  const b = await startB();
  const mib = 64;
  const w = await startWorkload(mib);
  const there: MigrateResult = await stack.ferry.migrate({ pid: w.pid, from: HOST_A, to: HOST_B });
  expect(there).toMatchObject({ newPid: w.pid, path: 'direct', directProblem: null });
  expect(there.direct!.layersSent).toEqual([0]);
  expect(there.direct!.bytes).toBe(there.checkpoint.layers[0]!.bytes);
  expect(there.restore.bytesDownloaded).toBe(0);
  expect(await w.verify()).toMatchObject({ ok: true, bad: 0, pages: (mib * 1024 * 1024) / 4096 });
  // Stored after the restore, whole: the checkpoint restores from MinIO like any other.
  expect((await stack.store.readManifest(there.checkpointId)).complete).toBe(true);
  const p = there.downtime.parts;
  expect(p).toMatchObject({ uploadMs: 0, commitMs: 0, downloadMs: 0 });
  expect(p.directMs).toBeGreaterThan(0);
  expect(stagingLeftovers(depsA)).toEqual([]);

  const back: MigrateResult = await stack.ferry.migrate({ pid: w.pid, from: HOST_B, to: HOST_A, direct: false });
  expect(back).toMatchObject({ newPid: w.pid, path: 'store', direct: null, directProblem: 'turned off (direct: false)' });
  expect(back.restore.bytesDownloaded).toBeGreaterThan(0);
  expect(await w.verify()).toMatchObject({ ok: true, bad: 0 });
  expect(b.stderr()).not.toMatch(/error/i);
  process.stdout.write(
    `[numbers] migrate ${mib} MiB: direct downtime ${there.downtime.totalMs} ms ${JSON.stringify(p)}; ` +
      `through the store ${back.downtime.totalMs} ms ${JSON.stringify(back.downtime.parts)}\n`,
  );
});

test('B dies during the direct transfer: the process is restored on A and the checkpoint stays stored', async () => {
  const b = workerB ?? (await startB());
  const w = await startWorkload(512);
  const downloads = path.join(stagingOf(HOST_B), 'downloads');
  const migration = stack.ferry.migrate({ pid: w.pid, from: HOST_A, to: HOST_B }).catch((e: unknown) => e);
  // Stop B the moment a layer starts arriving, then kill it: the sender sees the link break.
  await until('a layer arriving on B', () => fs.existsSync(downloads) && fs.readdirSync(downloads).some((d) => fs.readdirSync(path.join(downloads, d)).some((e) => e.startsWith('.direct-layer-'))), 120_000, 2);
  process.kill(b.pid, 'SIGSTOP');
  await b.kill();
  workerB = null;
  const err = await migration;
  expect((err as { failureType?: string }).failureType).toBe('MigrationFailed');
  expect((err as Error).message).toMatch(new RegExp(`direct transfer failed.*host ${HOST_B} no longer answers.*restored on ${HOST_A} as pid ${w.pid}`));
  await until(`pid ${w.pid} running again`, () => w.isRunning());
  expect(await w.verify()).toMatchObject({ ok: true, bad: 0 });
  const checkpointId = /Checkpoint (\S+) stays stored/.exec((err as Error).message)?.[1];
  expect(checkpointId).toBeDefined();
  expect((await stack.store.readManifest(checkpointId!)).complete).toBe(true);
  expect(stagingLeftovers(depsA)).toEqual([]);
});
