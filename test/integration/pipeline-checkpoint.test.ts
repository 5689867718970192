/**
 * The durable pipeline end to end on the real stack: Temporal dev server + MinIO (`ferry dev up`),
 * real CRIU on a real workload, in-process workers for two simulated hosts on this machine.
 *
 * - checkpoint on host A, restore-checkpoint on host B, memory verified page by page;
 * - migrate from A to B with the downtime and its parts;
 * - a checkpoint started by the Temporal CLI with plain JSON input;
 * - cancel mid-pipeline: the process keeps running, staging is cleaned, nothing is committed.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ActivityDeps } from '../../src/activities/deps';
import type { CheckpointProgress, CheckpointResult, MigrateResult } from '../../src/workflows/types';
import { Workload } from '../fixtures/workload/workload';
import { findTemporal } from '../helpers/binaries';
import { connectStack, hostDeps, stagingLeftovers, startWorkers, type RunningWorkers, type Stack } from '../helpers/pipeline-harness';
import { captureHistory, workflowBundle } from '../helpers/temporal';
import { until } from '../helpers/until';
import { isError, CheckpointNotFound } from '../../src/core';

const run = promisify(execFile);
const MIB = Number(process.env.FERRY_IT_WORKLOAD_MIB ?? 64);

let stack: Stack;
let workers: RunningWorkers;
let depsA: ActivityDeps;
let depsB: ActivityDeps;
const HOST_A = `it-a-${process.pid}`;
const HOST_B = `it-b-${process.pid}`;
const workloads: Workload[] = [];

beforeAll(async () => {
  [stack] = await Promise.all([connectStack('pipe'), workflowBundle()]);
  depsA = hostDeps(stack, HOST_A);
  depsB = hostDeps(stack, HOST_B);
  workers = await startWorkers(stack, [
    { host: HOST_A, deps: depsA },
    { host: HOST_B, deps: depsB },
  ]);
}, 180000);

afterAll(async () => {
  for (const w of workloads) await w.stop().catch(() => undefined);
  await workers?.stop();
  await stack?.close();
});

async function startWorkload(): Promise<Workload> {
  const w = await Workload.start({ mib: MIB, dirtyPermille: 10, intervalMs: 100 });
  workloads.push(w);
  return w;
}

async function expectIntact(w: Workload): Promise<void> {
  const v = await w.verify();
  expect(v).toMatchObject({ ok: true, bad: 0, pages: (MIB * 1024 * 1024) / 4096 });
}

describe('pipeline on the real stack', () => {
  test('checkpoint on A, restore-checkpoint on B: same process, memory intact', async () => {
    const w = await startWorkload();
    await expectIntact(w);
    const handle = await stack.ferry.startCheckpoint({ host: HOST_A, pid: w.pid, policy: { maxPreDumps: 3 } });
    const ck: CheckpointResult = await stack.ferry.result(handle.workflowId);
    await captureHistory(handle, 'checkpoint-full-dump');
    // This kernel has no soft-dirty: the workflow must say so, not fail.
    expect(ck.preDumps.available).toBe(false);
    expect(ck.preDumps.stopReason).toBe('kernel-cannot-track');
    expect(ck.layers.map((l) => l.kind)).toEqual(['dump']);
    expect(ck.leftRunning).toBe(false);
    expect(ck.layers[0].stats.pagesWritten).toBeGreaterThanOrEqual((MIB * 1024 * 1024) / 4096);
    const manifest = await stack.store.readManifest(ck.checkpointId);
    expect(manifest.complete).toBe(true);
    expect(stagingLeftovers(depsA)).toEqual([]);
    await until(`pid ${w.pid} to be gone after the final dump`, () => w.state() === null);

    const rHandle = await stack.ferry.startRestore({ host: HOST_B, checkpointId: ck.checkpointId });
    const r = await stack.ferry.result<{ pid: number; bytesDownloaded: number }>(rHandle.workflowId);
    await captureHistory(rHandle, 'restore');
    expect(r.pid).toBe(w.pid);
    expect(r.bytesDownloaded).toBe(ck.bytesUploaded);
    expect(w.isRunning()).toBe(true);
    await expectIntact(w);
    expect(stagingLeftovers(depsB)).toEqual([]);

    // The stored id again, for the running process: refused before anything is dumped; the stored
    // checkpoint (manifest and objects in MinIO) is left as it was, the process keeps running.
    const again = await stack.ferry.startCheckpoint({ host: HOST_B, pid: w.pid, checkpointId: ck.checkpointId });
    const refused = await stack.ferry.result(again.workflowId).catch((e: unknown) => e);
    expect((refused as { failureType?: string }).failureType).toBe('CheckpointExists');
    expect(await stack.store.readManifest(ck.checkpointId)).toEqual(manifest);
    expect(w.isRunning()).toBe(true);
    process.stdout.write(
      `[numbers] checkpoint ${MIB} MiB: total ${ck.durationMs} ms = dump ${ck.finalDump.durationMs} ms (frozen ${ck.finalDump.frozenMs.toFixed(1)} ms) + upload ${ck.finalDump.uploadMs} ms + commit ${ck.commitMs} ms + rest; ` +
        `restore: download ${JSON.stringify(r)}\n`,
    );
  });

  test('migrate from A to B: process moves, memory intact, downtime with its parts', async () => {
    const w = await startWorkload();
    const handle = await stack.ferry.startMigrate({ pid: w.pid, from: HOST_A, to: HOST_B });
    const m: MigrateResult = await stack.ferry.result(handle.workflowId);
    await captureHistory(handle, 'migrate');
    expect(m.newPid).toBe(w.pid);
    expect(m.from).toBe(HOST_A);
    expect(m.to).toBe(HOST_B);
    await expectIntact(w);
    const p = m.downtime.parts;
    expect(m.downtime.totalMs).toBeGreaterThan(0);
    expect(p.finalDumpMs + p.uploadMs + p.commitMs + p.downloadMs + p.restoreMs).toBeLessThanOrEqual(m.downtime.totalMs + 1);
    expect(stagingLeftovers(depsA)).toEqual([]);
    expect(stagingLeftovers(depsB)).toEqual([]);
    process.stdout.write(`[numbers] migrate ${MIB} MiB: downtime ${m.downtime.totalMs} ms ${JSON.stringify(p)}; workflow total ${m.durationMs} ms\n`);
  });

  test('a checkpoint started with the Temporal CLI and a JSON input', async () => {
    const w = await startWorkload();
    const workflowId = `it-cli-${process.pid}`;
    const input = { host: HOST_A, pid: w.pid, leaveRunning: true, checkpointId: `it-cli-${process.pid}-${Date.now()}`, taskQueuePrefix: stack.prefix };
    // Async on purpose: the workers run in this process, a blocking child would starve them.
    await run(findTemporal(), [
      'workflow', 'start',
      '--address', stack.config.temporal.address,
      '--type', 'checkpoint',
      '--task-queue', `${stack.prefix}-workflows`,
      '--workflow-id', workflowId,
      '--input', JSON.stringify(input),
    ]);
    const { stdout: out } = await run(findTemporal(), ['workflow', 'result', '--address', stack.config.temporal.address, '--workflow-id', workflowId, '--output', 'json']);
    const parsed = JSON.parse(out) as { status: string; closeEvent: { workflowExecutionCompletedEventAttributes: { result: CheckpointResult[] } } };
    expect(parsed.status).toBe('COMPLETED');
    const result = parsed.closeEvent.workflowExecutionCompletedEventAttributes.result[0];
    expect(result.checkpointId).toBe(input.checkpointId);
    expect(result.leftRunning).toBe(true);
    expect((await stack.store.readManifest(input.checkpointId)).complete).toBe(true);
    expect(w.isRunning()).toBe(true);
    await expectIntact(w);
    await captureHistory(stack.ferry.client.workflow.getHandle(workflowId), 'checkpoint-leave-running-cli');
  });

  test('cancel mid-pipeline: the process keeps running, staging cleaned, nothing committed', async () => {
    const w = await startWorkload();
    // Hold the upload (real MinIO behind it) so the cancel lands mid-pipeline, after the dump.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reached = false;
    const realPut = depsA.store.putLayer.bind(depsA.store);
    depsA.store.putLayer = async (...args) => {
      reached = true;
      await gate;
      return realPut(...args);
    };
    try {
      const handle = await stack.ferry.startCheckpoint({ host: HOST_A, pid: w.pid, leaveRunning: true });
      await until('the upload to start', () => reached);
      const progress = await stack.ferry.progress<CheckpointProgress>(handle.workflowId);
      expect(progress.layers).toHaveLength(1);
      await stack.ferry.cancel(handle.workflowId);
      release();
      await handle.result().catch(() => undefined);
      expect((await handle.describe()).status.name).toBe('CANCELLED');
      await captureHistory(handle, 'checkpoint-cancelled');
      expect(w.isRunning()).toBe(true);
      await expectIntact(w);
      expect(stagingLeftovers(depsA)).toEqual([]);
      const err = await stack.store.readManifest(progress.checkpointId).catch((e: unknown) => e);
      expect(isError(err, CheckpointNotFound)).toBe(true);
    } finally {
      depsA.store.putLayer = realPut;
      release();
    }
  });
});
