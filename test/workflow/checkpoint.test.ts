/**
 * The checkpoint workflow on a real Temporal dev server with the real activities and scripted
 * CRIU / store fakes: every stop rule, the no-soft-dirty path, cancel and failure handling.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type FerryClient } from '../../src/client';
import { PolicyRefused } from '../../src/policy';
import type { CheckpointProgress, CheckpointResult } from '../../src/workflows/types';
import { FakeStore, fakeHost, halvingDumpClock } from '../helpers/fake-host';
import { ferryInProcess } from '../helpers/ferry-cli';
import { captureHistory } from '../helpers/temporal';
import { tempRoot } from '../helpers/temp-dirs';
import { until } from '../helpers/until';
import { uniquePrefix, useWorkflowEnv, withWorkers } from '../helpers/workflow-env';
import { isError } from '../../src/core';
import { AlreadyRunningError, WorkflowRunFailedError } from '../../src/client/errors';

const shared = useWorkflowEnv();

const PID = 4242;

function setup(tag: string) {
  const store = new FakeStore();
  const root = tempRoot(tag);
  const host = fakeHost('hosta', store, root);
  host.criu.alive.add(PID);
  return { store, root, host, prefix: uniquePrefix() };
}

function stagingEntries(dir: string): string[] {
  const ck = path.join(dir, 'checkpoints');
  return fs.existsSync(ck) ? fs.readdirSync(ck) : [];
}

async function checkpoint(ferry: FerryClient, input: Partial<Parameters<FerryClient['checkpoint']>[0]> = {}): Promise<CheckpointResult> {
  return ferry.checkpoint({ host: 'hosta', pid: PID, ...input });
}

describe('checkpoint workflow', () => {
  test('max-pre-dumps: chains pre-dump -> pre-dump -> dump, stores and commits every layer', async () => {
    const { store, host, prefix } = setup('max');
    host.criu.preDumpPages = [50000, 20000, 8000];
    const r = await withWorkers(shared.env, prefix, [host], async (ferry) => {
      const res = await checkpoint(ferry, { policy: { maxPreDumps: 2, minPagesWritten: 10 } });
      await captureHistory(ferry.client.workflow.getHandle(res.workflowId), 'checkpoint-pre-dumps-scripted');
      return res;
    });
    expect(r.preDumps).toMatchObject({ available: true, count: 2, stopReason: 'max-pre-dumps' });
    expect(r.layers.map((l) => [l.index, l.kind, l.parentIndex, l.uploaded])).toEqual([
      [0, 'pre-dump', null, true],
      [1, 'pre-dump', 0, true],
      [2, 'dump', 1, true],
    ]);
    expect(host.criu.calls).toEqual(['pre-dump:layer-0:parent=-', 'pre-dump:layer-1:parent=layer-0', 'dump:layer-2:parent=layer-1']);
    const man = store.manifests.get(r.checkpointId)!;
    expect(man.complete).toBe(true);
    expect(man.layers.map((l) => l.index)).toEqual([0, 1, 2]);
    expect(r.leftRunning).toBe(false);
    expect(host.criu.alive.has(PID)).toBe(false);
    expect(r.bytesUploaded).toBe(r.layers.reduce((a, l) => a + l.bytes, 0));
    expect(r.workflowId).toBe(`ferry-process-hosta-${PID}`);
    expect(stagingEntries(host.deps.stagingDir)).toEqual([]);
  });

  test('catch-up: after the uploads, catch-up pre-dumps back to back while they shrink, the final dump right after the last, all stored after it', async () => {
    const { store, host, prefix } = setup('cu');
    halvingDumpClock(host, 20_000);
    host.criu.preDumpPages = [50000, 20000, 8000, 3000, 1200];
    const criuCallsAtPut: Array<[string, number]> = [];
    const put = store.putLayer.bind(store);
    store.putLayer = async (id: string, layer: Parameters<FakeStore['putLayer']>[1], dir: string) => {
      criuCallsAtPut.push([`layer-${layer.index}`, host.criu.calls.length]);
      return put(id, layer, dir);
    };
    const r = await withWorkers(shared.env, prefix, [host], async (ferry) => {
      const res = await checkpoint(ferry, { policy: { maxPreDumps: 2, minPagesWritten: 10, maxCatchUps: 3, minSavingMs: 0 } });
      await captureHistory(ferry.client.workflow.getHandle(res.workflowId), 'checkpoint-catch-up-scripted');
      return res;
    });
    expect(r.preDumps).toMatchObject({ count: 2, catchUps: 3, stopReason: 'max-catch-ups' });
    expect(host.criu.calls).toEqual([
      'pre-dump:layer-0:parent=-',
      'pre-dump:layer-1:parent=layer-0',
      'pre-dump:layer-2:parent=layer-1',
      'pre-dump:layer-3:parent=layer-2',
      'pre-dump:layer-4:parent=layer-3',
      'dump:layer-5:parent=layer-4',
    ]);
    // Nothing is uploaded while catch-ups or the final dump run: the catch-up layers go with the final one.
    for (const [layer, calls] of criuCallsAtPut.filter(([l]) => ['layer-2', 'layer-3', 'layer-4', 'layer-5'].includes(l))) {
      expect([layer, calls]).toEqual([layer, 6]);
    }
    expect(store.manifests.get(r.checkpointId)!.layers.map((l) => l.index)).toEqual([0, 1, 2, 3, 4, 5]);
    // The decisions, with the numbers they were made on: each round predicted a shorter freeze.
    const catchUps = r.preDumps.decisions!.filter((d) => d.at === 'catch-up');
    expect(catchUps.map((d) => d.next)).toEqual(['catch-up', 'catch-up', 'final-dump']);
    const predicted = catchUps.map((d) => d.prediction!.frozenMs);
    expect(predicted[1]).toBeLessThan(predicted[0]);
    expect(predicted[2]).toBeLessThan(predicted[1]);
    expect(catchUps.every((d) => d.prediction!.moveMs === 0)).toBe(true);
  });

  test('catch-up: a round that would not shrink ends the rounds as not converging', async () => {
    const { host, prefix } = setup('cunc');
    // A constant clock step: each round takes as long as the time between layers, so the process
    // dirties as many pages while a round runs as the round took.
    host.deps.now = () => Date.now() - 100_000 + 10_000 * host.criu.calls.length;
    host.criu.preDumpPages = [50000, 20000, 8000, 8000];
    const r = await withWorkers(shared.env, prefix, [host], (ferry) => checkpoint(ferry, { policy: { maxPreDumps: 2, minPagesWritten: 10, minSavingMs: 0 } }));
    expect(r.preDumps).toMatchObject({ count: 2, catchUps: 1, stopReason: 'not-converging' });
    expect(r.preDumps.detail).toMatch(/catch-up 1 took about \d+ ms, in which the process dirties about \d+ pages, not fewer than the 8000/);
    expect(host.criu.calls.at(-1)).toBe('dump:layer-3:parent=layer-2');
  });

  test('too small: a process of 2 MiB takes one full dump, no pre-dump, and the result says why', async () => {
    const { host, prefix } = setup('small');
    host.criu.residentBytes = 2 * 1024 * 1024;
    const r = await withWorkers(shared.env, prefix, [host], (ferry) => checkpoint(ferry));
    expect(r.preDumps).toMatchObject({ available: true, count: 0, catchUps: 0, stopReason: 'too-small', residentBytes: 2 * 1024 * 1024 });
    expect(r.preDumps.detail).toMatch(/resident memory 2\.0 MiB .* pre-dumps could save at most \d+ ms, not more than policy.minSavingMs \(100 ms\)/);
    expect(host.criu.calls).toEqual(['dump:layer-0:parent=-']);
  });

  test('a last layer fresher than policy.maxLayerAgeMs needs no catch-up', async () => {
    const { host, prefix } = setup('fresh');
    host.criu.preDumpPages = [50000, 20000];
    const r = await withWorkers(shared.env, prefix, [host], (ferry) => checkpoint(ferry, { policy: { maxPreDumps: 2, minPagesWritten: 10, maxLayerAgeMs: 600_000 } }));
    expect(r.preDumps).toMatchObject({ count: 2, catchUps: 0, stopReason: 'max-pre-dumps' });
    expect(r.preDumps.decisions!.at(-1)).toMatchObject({ at: 'catch-up-entry', next: 'final-dump', reason: 'last-layer-fresh' });
  });

  test('a chosen checkpoint id that is already stored is refused before anything is dumped, and the stored one is kept', async () => {
    const { store, host, prefix } = setup('taken');
    host.criu.preDumpPages = [50000, 20000];
    const kept = await withWorkers(shared.env, prefix, [host], (ferry) => checkpoint(ferry, { checkpointId: 'keep-me', leaveRunning: true }));
    const before = JSON.stringify(store.manifests.get('keep-me'));
    host.criu.calls = [];
    // Again under the same id, for a pid that does not exist: that run would fail and discard "its" checkpoint.
    const err = await withWorkers(shared.env, prefix, [host], (ferry) => ferry.checkpoint({ host: 'hosta', pid: 9999, checkpointId: 'keep-me' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowRunFailedError);
    expect((err as { failureType: string }).failureType).toBe('CheckpointExists');
    expect((err as Error).message).toMatch(/checkpoint "keep-me" already exists and was left unchanged/);
    expect(host.criu.calls).toEqual([]);
    expect(JSON.stringify(store.manifests.get('keep-me'))).toBe(before);
    expect(store.layers.get('keep-me')?.size).toBe(kept.layers.length);
  });

  test('two runs started together with the same new id: exactly one gets it, and the other changes nothing', async () => {
    const { store, host, prefix } = setup('race');
    host.criu.memTrack = false;
    host.criu.alive.add(PID + 1);
    const [a, b] = await withWorkers(shared.env, prefix, [host], (ferry) =>
      Promise.allSettled([checkpoint(ferry, { checkpointId: 'one-id', leaveRunning: true }), checkpoint(ferry, { pid: PID + 1, checkpointId: 'one-id', leaveRunning: true })]),
    );
    const outcomes = [a, b].map((r) => (r.status === 'fulfilled' ? 'stored' : (r.reason as { failureType: string }).failureType)).sort();
    expect(outcomes).toEqual(['CheckpointExists', 'stored']);
    const winner = [a, b].find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<CheckpointResult>;
    // The stored checkpoint is the winner's, whole: the loser neither overwrote nor discarded it.
    expect(store.manifests.get('one-id')).toMatchObject({ complete: true });
    expect(store.manifests.get('one-id')!.layers.map((l) => l.process.pid)).toEqual([winner.value.pid]);
    expect(host.criu.calls.filter((c) => c.startsWith('dump:'))).toHaveLength(1);
  });

  test('CRIU resource options reach every dump of the chain; an unknown one is refused before anything runs', async () => {
    const { host, prefix } = setup('opts');
    host.criu.preDumpPages = [50000, 20000];
    await withWorkers(shared.env, prefix, [host], (ferry) => checkpoint(ferry, { policy: { maxPreDumps: 2, minPagesWritten: 10 }, criuOptions: { fileLocks: true, tcpEstablished: false }, leaveRunning: true }));
    expect(host.criu.optionsSeen).toEqual([{ fileLocks: true }, { fileLocks: true }, { fileLocks: true }]);
    const err = await withWorkers(shared.env, prefix, [host], (ferry) =>
      ferry.checkpoint({ host: 'hosta', pid: PID, criuOptions: { fileLock: true } as never }).catch((e: unknown) => e),
    );
    expect((err as { failureType: string }).failureType).toBe('InvalidInput');
    expect((err as Error).message).toMatch(/criuOptions\.fileLock is not an option ferry passes to CRIU \(known: fileLocks, tcpEstablished, extUnixSk, linkRemap\)/);
    expect(host.criu.optionsSeen).toHaveLength(3);
  });

  test('pages-under-threshold stops after the pre-dump that wrote too little', async () => {
    const { host, prefix } = setup('thr');
    host.criu.preDumpPages = [50000, 500, 400];
    const r = await withWorkers(shared.env, prefix, [host], (ferry) => checkpoint(ferry, { policy: { maxPreDumps: 5, minPagesWritten: 1000 }, leaveRunning: true }));
    expect(r.preDumps).toMatchObject({ count: 2, stopReason: 'pages-under-threshold' });
    expect(r.leftRunning).toBe(true);
    expect(host.criu.alive.has(PID)).toBe(true);
  });

  test('not-shrinking stops once the dirty set stops getting smaller', async () => {
    const { host, prefix } = setup('shr');
    host.criu.preDumpPages = [50000, 20000, 19500, 100];
    const r = await withWorkers(shared.env, prefix, [host], (ferry) => checkpoint(ferry, { policy: { maxPreDumps: 6, minPagesWritten: 10 } }));
    expect(r.preDumps).toMatchObject({ count: 3, stopReason: 'not-shrinking' });
  });

  test('downtime-under-target stops when the predicted freeze fits the target', async () => {
    const { host, prefix } = setup('dt');
    // 1 us per page at 4 KiB pages: 40000 pages -> 40 ms, 20000 -> 20 ms.
    host.criu.preDumpPages = [100000, 40000, 20000, 10000];
    const r = await withWorkers(shared.env, prefix, [host], (ferry) => checkpoint(ferry, { policy: { maxPreDumps: 6, minPagesWritten: 10, maxDowntimeMs: 25 } }));
    expect(r.preDumps).toMatchObject({ count: 3, stopReason: 'downtime-under-target' });
    // 20000 pages at 1 us each, plus the 0.5 ms the scripted CRIU is frozen besides writing pages.
    expect(r.preDumps.predictedDowntimeMs).toBeCloseTo(20.5, 3);
  });

  test('dumpNow signal: the running pre-dump finishes, then the final dump follows', async () => {
    const { host, prefix } = setup('now');
    host.criu.preDumpPages = [50000, 20000, 8000, 4000];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    host.criu.onPreDump = async (n) => {
      if (n === 1) await gate;
    };
    const r = await withWorkers(shared.env, prefix, [host], async (ferry) => {
      const handle = await ferry.startCheckpoint({ host: 'hosta', pid: PID, policy: { maxPreDumps: 10, minPagesWritten: 10 } });
      await until('pre-dump 1 to start', () => host.criu.calls.length === 2, 20000, 50);
      const p = await ferry.progress<CheckpointProgress>(handle.workflowId);
      expect(p.stage).toBe('pre-dumping');
      expect(p.layers).toHaveLength(1);
      await ferry.dumpNow(handle.workflowId);
      release();
      const res = await ferry.result<CheckpointResult>(handle.workflowId);
      await captureHistory(ferry.client.workflow.getHandle(handle.workflowId), 'checkpoint-dump-now-scripted');
      return res;
    });
    expect(r.preDumps).toMatchObject({ count: 2, stopReason: 'dump-now-requested' });
  });

  test('ferry dump-now and ferry cancel, by workflow id or checkpoint id; a finished workflow gets nothing', async () => {
    const { store, host, prefix } = setup('cli-signals');
    host.criu.preDumpPages = [50000, 20000, 8000, 4000];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let releaseSecond!: () => void;
    const secondGate = new Promise<void>((r) => (releaseSecond = r));
    host.criu.onPreDump = async (n) => {
      if (n === 1) await gate;
      if (n === 3) await secondGate;
    };
    // The CLI reads its settings from the environment: this test's Temporal and task queues.
    const saved = { address: process.env.FERRY_TEMPORAL_ADDRESS, prefix: process.env.FERRY_TASK_QUEUE_PREFIX };
    process.env.FERRY_TEMPORAL_ADDRESS = shared.env.address;
    process.env.FERRY_TASK_QUEUE_PREFIX = prefix;
    try {
      await withWorkers(shared.env, prefix, [host], async (ferry) => {
        const first = await ferry.startCheckpoint({ host: 'hosta', pid: PID, policy: { maxPreDumps: 10, minPagesWritten: 10 }, checkpointId: 'cli-now' });
        await until('pre-dump 1 to start', () => host.criu.calls.length === 2, 20000, 50);
        const now = await ferryInProcess('dump-now', first.workflowId, '--json');
        expect(now).toMatchObject({ code: 0, stderr: '' });
        expect(JSON.parse(now.stdout)).toEqual({ workflowId: first.workflowId, type: 'checkpoint', sent: 'dump-now' });
        release();
        const done = await ferry.result<CheckpointResult>(first.workflowId);
        expect(done.preDumps.stopReason).toBe('dump-now-requested');
        const late = await ferryInProcess('cancel', first.workflowId);
        expect(late.code).toBe(1);
        expect(late.stderr).toMatch(new RegExp(`workflow ${first.workflowId} is not running \\(COMPLETED\\); nothing was sent`));

        // By checkpoint id: the workflow that uses it, found through its memo.
        host.criu.alive.add(PID);
        const second = await ferry.startCheckpoint({ host: 'hosta', pid: PID, policy: { maxPreDumps: 10, minPagesWritten: 10 }, checkpointId: 'cli-cancel' });
        await until('its second pre-dump to start', () => host.criu.calls.filter((c) => c.startsWith('pre-dump')).length === 4, 20000, 50);
        const cancel = await until('the checkpoint id to be listed', async () => {
          const r = await ferryInProcess('cancel', 'cli-cancel');
          return r.code === 0 ? r : null;
        }, 20000, 200);
        expect(cancel.stdout).toMatch(new RegExp(`cancel requested to checkpoint workflow ${second.workflowId}`));
        releaseSecond();
        const err = await ferry.result(second.workflowId).catch((e: unknown) => e);
        expect(String((err as Error).message)).toMatch(/cancel/i);
        expect(store.manifests.has('cli-cancel')).toBe(false);
      });
    } finally {
      release();
      releaseSecond();
      process.env.FERRY_TEMPORAL_ADDRESS = saved.address;
      process.env.FERRY_TASK_QUEUE_PREFIX = saved.prefix;
      if (saved.address === undefined) delete process.env.FERRY_TEMPORAL_ADDRESS;
      if (saved.prefix === undefined) delete process.env.FERRY_TASK_QUEUE_PREFIX;
    }
  });

  test('no soft-dirty: skips pre-dumps, takes one full dump, and says why', async () => {
    const { store, host, prefix } = setup('nosd');
    host.criu.memTrack = false;
    const r = await withWorkers(shared.env, prefix, [host], (ferry) => checkpoint(ferry, { policy: { maxPreDumps: 3 } }));
    expect(r.preDumps).toMatchObject({ available: false, count: 0, stopReason: 'kernel-cannot-track' });
    expect(r.preDumps.detail).toMatch(/soft-dirty/);
    expect(host.criu.calls).toEqual(['dump:layer-0:parent=-']);
    expect(store.manifests.get(r.checkpointId)?.complete).toBe(true);
  });

  test('no soft-dirty with requirePreDumps: fails PreDumpsUnavailable and leaves the process alone', async () => {
    const { store, host, prefix } = setup('req');
    host.criu.memTrack = false;
    const err = await withWorkers(shared.env, prefix, [host], (ferry) => checkpoint(ferry, { policy: { requirePreDumps: true } }).catch((e: unknown) => e));
    expect(isError(err, WorkflowRunFailedError)).toBe(true);
    expect((err as { failureType: string }).failureType).toBe('PreDumpsUnavailable');
    expect(host.criu.calls).toEqual([]);
    expect(host.criu.alive.has(PID)).toBe(true);
    expect(store.manifests.size).toBe(0);
  });

  test('cancel mid-pipeline: process keeps running, staging cleaned, nothing committed', async () => {
    const { store, host, prefix } = setup('cancel');
    host.criu.preDumpPages = [50000, 20000];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    host.criu.onPreDump = async (n) => {
      if (n === 1) await gate;
    };
    const outcome = await withWorkers(shared.env, prefix, [host], async (ferry) => {
      const handle = await ferry.startCheckpoint({ host: 'hosta', pid: PID, policy: { maxPreDumps: 3, minPagesWritten: 10 } });
      await until('pre-dump 1 to start', () => host.criu.calls.length === 2, 20000, 50);
      await ferry.cancel(handle.workflowId);
      // The CRIU call is never torn down mid-way: it finishes, then the activity honours the cancel.
      release();
      const err = await handle.result().catch((e: unknown) => e);
      const desc = await handle.describe();
      return { err, status: desc.status.name };
    });
    expect(outcome.status).toBe('CANCELLED');
    expect(host.criu.alive.has(PID)).toBe(true);
    expect(host.criu.calls.some((c) => c.startsWith('dump:'))).toBe(false);
    expect(stagingEntries(host.deps.stagingDir)).toEqual([]);
    expect(store.manifests.size).toBe(0);
  });

  test('storing fails after the final dump stopped the process: restored on the host, CheckpointFailed', async () => {
    const { store, host, prefix } = setup('rb');
    host.criu.memTrack = false;
    host.criu.restoredPid = 5151;
    store.failPut = () => Object.assign(new Error('bucket gone'), { name: 'BucketMissing' });
    const err = await withWorkers(shared.env, prefix, [host], (ferry) => checkpoint(ferry).catch((e: unknown) => e));
    expect((err as { failureType: string }).failureType).toBe('CheckpointFailed');
    expect((err as Error).message).toMatch(/restored on hosta .* as pid 5151/);
    expect(host.criu.calls[host.criu.calls.length - 1]).toMatch(/^restore:.*layer-0$/);
    expect(host.criu.alive.has(5151)).toBe(true);
    expect(store.manifests.size).toBe(0);
    expect(stagingEntries(host.deps.stagingDir)).toEqual([]);
  });

  test('an upload failing during the pre-dumps: no final dump, the process keeps running, nothing left', async () => {
    const { store, host, prefix } = setup('upfail');
    host.criu.preDumpPages = [50000, 20000, 8000];
    store.failPut = (_id, index) => (index === 0 ? Object.assign(new Error('layer unreadable'), { name: 'LocalLayerInvalid' }) : null);
    const err = await withWorkers(shared.env, prefix, [host], (ferry) => checkpoint(ferry, { policy: { maxPreDumps: 3, minPagesWritten: 10 } }).catch((e: unknown) => e));
    expect((err as { failureType: string }).failureType).toBe('LocalLayerInvalid');
    expect(host.criu.calls.some((c) => c.startsWith('dump:'))).toBe(false);
    expect(host.criu.alive.has(PID)).toBe(true);
    expect(stagingEntries(host.deps.stagingDir)).toEqual([]);
    expect(store.manifests.size).toBe(0);
    expect(store.layers.size).toBe(0);
  });

  test('restore of a checkpoint that does not exist fails CheckpointNotFound and leaves no staging', async () => {
    const { host, prefix } = setup('nf');
    const err = await withWorkers(shared.env, prefix, [host], (ferry) => ferry.restore({ host: 'hosta', checkpointId: 'no-such-checkpoint' }).catch((e: unknown) => e));
    expect((err as { failureType: string }).failureType).toBe('CheckpointNotFound');
    expect(host.criu.calls).toEqual([]);
    const downloads = path.join(host.deps.stagingDir, 'downloads');
    expect(fs.existsSync(downloads) ? fs.readdirSync(downloads) : []).toEqual([]);
  });

  test('a second checkpoint of the same process while one runs is refused', async () => {
    const { host, prefix } = setup('dup');
    host.criu.preDumpPages = [50000, 20000];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    host.criu.onPreDump = () => gate;
    await withWorkers(shared.env, prefix, [host], async (ferry) => {
      const first = await ferry.startCheckpoint({ host: 'hosta', pid: PID, policy: { maxPreDumps: 1 } });
      const err = await ferry.startCheckpoint({ host: 'hosta', pid: PID }).catch((e: unknown) => e);
      expect(isError(err, AlreadyRunningError)).toBe(true);
      release();
      await first.result();
    });
  });

  test('a host policy refusal fails PolicyRefused at once: never retried, nothing dumped or stored', async () => {
    const { store, host, prefix } = setup('policy');
    let identifies = 0;
    host.criu.identify = async (pid: number) => {
      identifies++;
      throw new PolicyRefused('dump', `pid ${pid} (app)`, 'executable', 'its executable /usr/bin/app is not an allowed executable (/opt/ok)', '/etc/ferry/policy.json');
    };
    const err = await withWorkers(shared.env, prefix, [host], (ferry) => checkpoint(ferry).catch((e: unknown) => e));
    expect(isError(err, WorkflowRunFailedError)).toBe(true);
    expect((err as { failureType: string }).failureType).toBe('PolicyRefused');
    expect((err as Error).message).toMatch(/host policy refused dump of pid 4242/);
    expect(identifies).toBe(1);
    expect(host.criu.calls).toEqual([]);
    expect(store.puts).toEqual([]);
    expect(store.manifests.size).toBe(0);
    expect(host.criu.alive.has(PID)).toBe(true);
  });

  test('bad input fails InvalidInput without touching the host', async () => {
    const { host, prefix } = setup('bad');
    const err = await withWorkers(shared.env, prefix, [host], (ferry) => checkpoint(ferry, { policy: { maxPreDumps: -3 } }).catch((e: unknown) => e));
    expect((err as { failureType: string }).failureType).toBe('InvalidInput');
    expect((err as Error).message).toMatch(/maxPreDumps/);
    expect(host.criu.calls).toEqual([]);
    // The prefetch handshake needs a parent workflow to answer it; started alone it would wait for nothing.
    const orphan = await withWorkers(shared.env, prefix, [host], (ferry) => checkpoint(ferry, { announceStoredLayers: true }).catch((e: unknown) => e));
    expect((orphan as { failureType: string }).failureType).toBe('InvalidInput');
    expect((orphan as Error).message).toMatch(/announceStoredLayers .* has no parent/);
    expect(host.criu.calls).toEqual([]);
  });
});
