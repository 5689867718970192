/**
 * restore and migrate workflows on a real Temporal dev server with the real activities and fake
 * CRIU / store ports: the chain moves between two host queues, downtime is reported with its
 * parts, and a failed restore on the target brings the process back on the source.
 */
import fs from 'node:fs';
import path from 'node:path';
import { downtimeOf } from '../../src/workflows/migrate';
import type { CheckpointResult } from '../../src/workflows/types';
import { FakeStore, fakeHost, halvingDumpClock } from '../helpers/fake-host';
import { captureHistory } from '../helpers/temporal';
import { tempRoot } from '../helpers/temp-dirs';
import { uniquePrefix, useWorkflowEnv, withWorkers } from '../helpers/workflow-env';
import { isError } from '../../src/core';
import { WorkflowRunFailedError } from '../../src/client/errors';

const shared = useWorkflowEnv();

const PID = 7777;

function twoHosts(tag: string, opts: { direct?: boolean } = {}) {
  const store = new FakeStore();
  const root = tempRoot(tag);
  const a = fakeHost('node-a', store, root, opts);
  const b = fakeHost('node-b', store, root, opts);
  a.criu.alive.add(PID);
  return { store, a, b, prefix: uniquePrefix() };
}

async function waitFor(ok: () => boolean, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const leftovers = (dir: string) => ['checkpoints', 'downloads'].flatMap((d) => (fs.existsSync(path.join(dir, d)) ? fs.readdirSync(path.join(dir, d)) : []));

describe('restore and migrate workflows', () => {
  test('checkpoint on one host, restore-checkpoint on another', async () => {
    const { a, b, prefix } = twoHosts('rst');
    a.criu.memTrack = false;
    b.criu.restoredPid = 9001;
    const r = await withWorkers(shared.env, prefix, [a, b], async (ferry) => {
      const ck = await ferry.checkpoint({ host: 'node-a', pid: PID });
      return ferry.restore({ host: 'node-b', checkpointId: ck.checkpointId });
    });
    expect(r).toMatchObject({ host: 'node-b', pid: 9001, layers: 1 });
    expect(b.criu.calls).toEqual([expect.stringMatching(/^restore:.*downloads.*layer-0$/)]);
    expect(leftovers(b.deps.stagingDir)).toEqual([]);
  });

  test('migrate: pre-dumps on A, final dump, restore on B, downtime and its parts', async () => {
    const { store, a, b, prefix } = twoHosts('mig');
    a.criu.preDumpPages = [50000, 20000];
    b.criu.restoredPid = 9002;
    const r = await withWorkers(shared.env, prefix, [a, b], async (ferry) => {
      const res = await ferry.migrate({ pid: PID, from: 'node-a', to: 'node-b', policy: { maxPreDumps: 2, minPagesWritten: 10 } });
      await captureHistory(ferry.client.workflow.getHandle(res.workflowId), 'migrate-prefetch-scripted');
      return res;
    });
    expect(r.newPid).toBe(9002);
    expect(r.checkpoint.layers.map((l) => l.kind)).toEqual(['pre-dump', 'pre-dump', 'dump']);
    expect(r.checkpoint.workflowId).toBe(`ferry-process-node-a-${PID}`);
    expect(store.manifests.get(r.checkpointId)?.complete).toBe(true);
    const parts = r.downtime.parts;
    const sum = parts.finalDumpMs + parts.uploadMs + parts.commitMs + parts.downloadMs + parts.restoreMs + parts.otherMs;
    expect(Math.abs(sum - r.downtime.totalMs)).toBeLessThanOrEqual(1);
    expect(r.downtime.totalMs).toBeGreaterThanOrEqual(parts.restoreMs);
    expect(a.criu.alive.has(PID)).toBe(false);
    expect(b.criu.alive.has(9002)).toBe(true);
    expect(leftovers(a.deps.stagingDir)).toEqual([]);
    expect(leftovers(b.deps.stagingDir)).toEqual([]);
    // The pre-dump layers reached B before the freeze (from an incomplete manifest); inside the
    // downtime only the final layer was downloaded, into the same dir.
    expect(store.pulls).toEqual([
      { checkpointId: r.checkpointId, downloaded: [0, 1], complete: false },
      { checkpointId: r.checkpointId, downloaded: [2], complete: true },
    ]);
    const bytesOf = (...indexes: number[]) => r.checkpoint.layers.filter((l) => indexes.includes(l.index)).reduce((n, l) => n + l.bytes, 0);
    expect(r.prefetch).toMatchObject({ layers: 2, bytes: bytesOf(0, 1) });
    expect(r.prefetchProblem).toBeNull();
    expect(r.restore).toMatchObject({ layers: 3, bytesDownloaded: bytesOf(2) });
    expect(b.criu.calls).toEqual([expect.stringMatching(/^restore:.*downloads.*layer-2$/)]);
  });

  test('migrate: catch-up rounds after the prefetch, each stored and fetched by the target before the next; the last moves with the final layer', async () => {
    const { store, a, b, prefix } = twoHosts('migcu');
    halvingDumpClock(a, 20_000);
    a.criu.preDumpPages = [50000, 20000, 8000, 3000, 1200];
    b.criu.restoredPid = 9004;
    const r = await withWorkers(shared.env, prefix, [a, b], async (ferry) => {
      const res = await ferry.migrate({ pid: PID, from: 'node-a', to: 'node-b', policy: { maxPreDumps: 2, minPagesWritten: 10, maxCatchUps: 3, minSavingMs: 0 } });
      await captureHistory(ferry.client.workflow.getHandle(res.workflowId), 'migrate-catch-up-scripted');
      await captureHistory(ferry.client.workflow.getHandle(res.checkpoint.workflowId), 'migrate-catch-up-checkpoint-scripted');
      return res;
    });
    const ck = r.checkpoint;
    expect(ck.preDumps).toMatchObject({ count: 2, catchUps: 3, stopReason: 'max-catch-ups' });
    expect(ck.layers.map((l) => l.kind)).toEqual(['pre-dump', 'pre-dump', 'pre-dump', 'pre-dump', 'pre-dump', 'dump']);
    expect(a.criu.calls.at(-1)).toBe('dump:layer-5:parent=layer-4');
    // Round 1 fetched the stored pre-dumps, rounds 2 and 3 one catch-up each; the last catch-up
    // and the final layer crossed inside the downtime.
    expect(store.pulls).toEqual([
      { checkpointId: r.checkpointId, downloaded: [0, 1], complete: false },
      { checkpointId: r.checkpointId, downloaded: [2], complete: false },
      { checkpointId: r.checkpointId, downloaded: [3], complete: false },
      { checkpointId: r.checkpointId, downloaded: [4, 5], complete: true },
    ]);
    expect(r.prefetch).toMatchObject({ layers: 4 });
    // Every decision is in the result, with the migration's transfer rates measured on this run.
    const decisions = ck.preDumps.decisions!;
    expect(decisions.map((d) => [d.at, d.next])).toEqual([
      ['start', 'pre-dump'],
      ['pre-dump', 'pre-dump'],
      ['pre-dump', 'move-stored-layers'],
      ['catch-up-entry', 'catch-up'],
      ['catch-up', 'catch-up'],
      ['catch-up', 'catch-up'],
      ['catch-up', 'final-dump'],
    ]);
    const last = decisions.at(-1)!;
    expect(last.rates.sources).toEqual({ dump: 'this-run', upload: 'this-run', download: 'this-run' });
    expect(last.prediction!.moveMs).toBeGreaterThan(0);
    expect(b.criu.alive.has(9004)).toBe(true);
    expect(store.manifests.get(r.checkpointId)?.complete).toBe(true);
  });

  test('migrate: the final dump waits for the prefetch, and a failed prefetch only moves the download into the downtime', async () => {
    const { store, a, b, prefix } = twoHosts('migpf');
    a.criu.preDumpPages = [50000, 20000];
    b.criu.restoredPid = 9003;
    let releasePull: () => void = () => {};
    const pullGate = new Promise<void>((resolve) => (releasePull = resolve));
    const dumpsWhilePrefetching: string[] = [];
    store.beforePull = async (checkpointId, complete) => {
      if (complete) return;
      dumpsWhilePrefetching.push(...a.criu.calls.filter((c) => c.startsWith('dump:')));
      await pullGate;
      dumpsWhilePrefetching.push(...a.criu.calls.filter((c) => c.startsWith('dump:')));
      throw Object.assign(new Error(`network down while fetching ${checkpointId}`), { name: 'ObjectMissing' });
    };
    const r = await withWorkers(shared.env, prefix, [a, b], async (ferry) => {
      const started = ferry.migrate({ pid: PID, from: 'node-a', to: 'node-b', policy: { maxPreDumps: 2, minPagesWritten: 10 } });
      // Released only once the prefetch is under way: the final dump must not have started by then.
      await waitFor(() => store.pullsStarted > 0);
      releasePull();
      const res = await started;
      await captureHistory(ferry.client.workflow.getHandle(res.workflowId), 'migrate-prefetch-failed-scripted');
      return res;
    });
    expect(dumpsWhilePrefetching).toEqual([]);
    expect(r.newPid).toBe(9003);
    expect(r.prefetch).toBeNull();
    expect(r.prefetchProblem).toMatch(/network down while fetching/);
    expect(store.pulls).toEqual([{ checkpointId: r.checkpointId, downloaded: [0, 1, 2], complete: true }]);
    expect(leftovers(b.deps.stagingDir)).toEqual([]);
  });

  test('migrate: restore on B fails -> the process is restored on A, MigrationFailed', async () => {
    const { store, a, b, prefix } = twoHosts('migfail');
    a.criu.memTrack = false;
    a.criu.restoredPid = PID;
    b.criu.failRestore = Object.assign(new Error('restore refused'), { name: 'NotPermittedError' });
    const err = await withWorkers(shared.env, prefix, [a, b], async (ferry) => {
      const e = await ferry.migrate({ pid: PID, from: 'node-a', to: 'node-b' }).catch((x: unknown) => x);
      await captureHistory(ferry.client.workflow.getHandle(`ferry-migrate-node-a-${PID}`), 'migrate-rolled-back-scripted');
      return e;
    });
    expect(isError(err, WorkflowRunFailedError)).toBe(true);
    expect((err as { failureType: string }).failureType).toBe('MigrationFailed');
    expect((err as Error).message).toMatch(new RegExp(`restored on node-a as pid ${PID}`));
    expect(a.criu.alive.has(PID)).toBe(true);
    expect(a.criu.calls[a.criu.calls.length - 1]).toMatch(/^restore:.*checkpoints.*layer-0$/);
    // The checkpoint stays stored so it can be restored once B is fixed.
    expect([...store.manifests.values()].some((m) => m.complete)).toBe(true);
    expect(leftovers(b.deps.stagingDir)).toEqual([]);
  });

  test('migrate, direct: the final layer goes straight to B over TLS, B restores, then the checkpoint is stored', async () => {
    const { store, a, b, prefix } = twoHosts('migdir', { direct: true });
    a.criu.preDumpPages = [50000, 20000];
    a.criu.finalDumpPages = 3000;
    b.criu.restoredPid = 9005;
    let storedAtRestore: boolean | null = null;
    b.criu.onRestore = () => (storedAtRestore = [...store.manifests.values()].some((m) => m.complete));
    const r = await withWorkers(shared.env, prefix, [a, b], async (ferry) => {
      const res = await ferry.migrate({ pid: PID, from: 'node-a', to: 'node-b', policy: { maxPreDumps: 2, minPagesWritten: 10 } });
      await captureHistory(ferry.client.workflow.getHandle(res.workflowId), 'migrate-direct-scripted');
      await captureHistory(ferry.client.workflow.getHandle(res.checkpoint.workflowId), 'migrate-direct-checkpoint-scripted');
      return res;
    });
    expect(r).toMatchObject({ newPid: 9005, path: 'direct', directProblem: null });
    expect(r.direct).toMatchObject({ layersSent: [2], bytes: 3000 + 3 });
    // Restored from the layers the prefetch brought and the one sent directly, before anything
    // marked the checkpoint complete; the store was only read for the prefetch.
    expect(b.criu.calls).toEqual([expect.stringMatching(/^restore:.*downloads.*layer-2$/)]);
    expect(storedAtRestore).toBe(false);
    expect(store.pulls).toEqual([{ checkpointId: r.checkpointId, downloaded: [0, 1], complete: false }]);
    // ... and stored whole afterwards.
    expect(store.manifests.get(r.checkpointId)?.complete).toBe(true);
    expect(store.manifests.get(r.checkpointId)?.layers.map((l) => l.index)).toEqual([0, 1, 2]);
    const p = r.downtime.parts;
    expect(p).toMatchObject({ uploadMs: 0, commitMs: 0, downloadMs: 0 });
    expect(Math.abs(p.finalDumpMs + p.directMs! + p.restoreMs + p.otherMs - r.downtime.totalMs)).toBeLessThanOrEqual(1);
    expect(a.criu.alive.has(PID)).toBe(false);
    expect(leftovers(a.deps.stagingDir)).toEqual([]);
    expect(leftovers(b.deps.stagingDir)).toEqual([]);
  });

  test('migrate, direct, without pre-dumps: the whole dump goes straight to B', async () => {
    const { store, a, b, prefix } = twoHosts('migdir0', { direct: true });
    a.criu.memTrack = false;
    b.criu.restoredPid = 9006;
    const r = await withWorkers(shared.env, prefix, [a, b], (ferry) => ferry.migrate({ pid: PID, from: 'node-a', to: 'node-b' }));
    expect(r).toMatchObject({ newPid: 9006, path: 'direct', direct: { layersSent: [0] } });
    expect(store.pulls).toEqual([]);
    expect(store.manifests.get(r.checkpointId)?.complete).toBe(true);
  });

  test('migrate, direct: when B refuses the transfer, the final layer goes through the store and the result says why', async () => {
    const { store, a, b, prefix } = twoHosts('migdirx', { direct: true });
    a.criu.preDumpPages = [50000, 20000];
    a.criu.finalDumpExtraFile = 'not an image';
    b.criu.restoredPid = 9007;
    const r = await withWorkers(shared.env, prefix, [a, b], (ferry) => ferry.migrate({ pid: PID, from: 'node-a', to: 'node-b', policy: { maxPreDumps: 2, minPagesWritten: 10 } }));
    expect(r).toMatchObject({ newPid: 9007, path: 'store', direct: null });
    expect(r.directProblem).toMatch(/direct transfer failed: .*refused the transfer: .*"not an image" is not an image file name/);
    expect(store.pulls.at(-1)).toEqual({ checkpointId: r.checkpointId, downloaded: [2], complete: true });
    expect(leftovers(b.deps.stagingDir)).toEqual([]);
  });

  test('migrate, direct: restore on B fails -> restored on A from its own images, the checkpoint stored', async () => {
    const { store, a, b, prefix } = twoHosts('migdirf', { direct: true });
    a.criu.memTrack = false;
    a.criu.restoredPid = PID;
    b.criu.failRestore = Object.assign(new Error('restore refused'), { name: 'NotPermittedError' });
    const err = await withWorkers(shared.env, prefix, [a, b], (ferry) => ferry.migrate({ pid: PID, from: 'node-a', to: 'node-b' }).catch((x: unknown) => x));
    expect((err as { failureType: string }).failureType).toBe('MigrationFailed');
    expect(a.criu.alive.has(PID)).toBe(true);
    expect(a.criu.calls.at(-1)).toMatch(/^restore:.*checkpoints.*layer-0$/);
    expect([...store.manifests.values()].some((m) => m.complete)).toBe(true);
    expect(leftovers(a.deps.stagingDir)).toEqual([]);
    expect(leftovers(b.deps.stagingDir)).toEqual([]);
  });

  test('migrate, direct: storing fails after B restored -> MigratedNotStored, the process runs on B only', async () => {
    const { a, b, store, prefix } = twoHosts('migdirs', { direct: true });
    a.criu.memTrack = false;
    a.criu.restoredPid = PID;
    b.criu.restoredPid = 9008;
    store.failPut = () => Object.assign(new Error('bucket gone'), { name: 'BucketMissing' });
    const err = await withWorkers(shared.env, prefix, [a, b], (ferry) => ferry.migrate({ pid: PID, from: 'node-a', to: 'node-b' }).catch((x: unknown) => x));
    expect((err as { failureType: string }).failureType).toBe('MigratedNotStored');
    expect((err as Error).message).toMatch(/now runs on node-b as pid 9008/);
    expect(b.criu.alive.has(9008)).toBe(true);
    expect(a.criu.alive.has(PID)).toBe(false);
    expect(a.criu.calls.filter((c) => c.startsWith('restore:'))).toEqual([]);
    expect(leftovers(a.deps.stagingDir)).toEqual([]);
    expect(leftovers(b.deps.stagingDir)).toEqual([]);
  });

  test('migrate refuses the same host twice before touching anything', async () => {
    const { a, prefix } = twoHosts('same');
    const err = await withWorkers(shared.env, prefix, [a], (ferry) => ferry.migrate({ pid: PID, from: 'node-a', to: 'node-a' }).catch((e: unknown) => e));
    expect((err as { failureType: string }).failureType).toBe('InvalidInput');
    expect(a.criu.calls).toEqual([]);
  });

  test('downtimeOf: the parts and the remainder add up to the total', () => {
    const ck = { finalDump: { startedAtMs: 1000, frozenMs: 40, durationMs: 60, uploadMs: 100, bytes: 0 }, commitMs: 10 } as unknown as CheckpointResult;
    const d = downtimeOf(ck, 80, 50, 1400);
    expect(d.totalMs).toBe(400);
    expect(d.parts).toEqual({ frozenDumpMs: 40, finalDumpMs: 60, uploadMs: 100, commitMs: 10, downloadMs: 80, restoreMs: 50, otherMs: 100 });
  });
});
