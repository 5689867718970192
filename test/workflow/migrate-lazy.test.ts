/**
 * migrate with lazy: true (post-copy) on a real Temporal dev server with the real activities, a
 * real direct link and page tunnel (TLS on loopback), and fake CRIU whose lazy dump serves its
 * "pages" from a real TCP server as CRIU's does: the process runs on the target before the pages
 * came, the result has both times and the durable copy, and every failure says where the
 * process is.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isError, POST_COPY_RISK } from '../../src/core';
import { WorkflowRunFailedError } from '../../src/client/errors';
import { FakeStore, fakeHost } from '../helpers/fake-host';
import { captureHistory } from '../helpers/temporal';
import { tempRoot } from '../helpers/temp-dirs';
import { uniquePrefix, useWorkflowEnv, withWorkers } from '../helpers/workflow-env';

const shared = useWorkflowEnv();

const PID = 7788;

function twoHosts(tag: string, opts: { targetDirect?: boolean } = {}) {
  const store = new FakeStore();
  const root = tempRoot(tag);
  const a = fakeHost('node-a', store, root, { direct: true });
  const b = fakeHost('node-b', store, root, { direct: opts.targetDirect !== false });
  a.criu.alive.add(PID);
  // No pre-dumps in the durable copy: the scripted kernel has no memory tracking.
  b.criu.memTrack = false;
  return { store, a, b, prefix: uniquePrefix() };
}

const leftovers = (dir: string) => ['checkpoints', 'downloads'].flatMap((d) => (fs.existsSync(path.join(dir, d)) ? fs.readdirSync(path.join(dir, d)) : []));

describe('migrate --lazy (post-copy)', () => {
  test('restores on B before the pages came, then the last page, then a --leave-running copy on B is stored', async () => {
    const { store, a, b, prefix } = twoHosts('lazy');
    a.criu.lazyPageBytes = 3 * 1024 * 1024;
    b.criu.restoredPid = 9101;
    const r = await withWorkers(shared.env, prefix, [a, b], async (ferry) => {
      const res = await ferry.migrate({ pid: PID, from: 'node-a', to: 'node-b', lazy: true });
      await captureHistory(ferry.client.workflow.getHandle(res.workflowId), 'migrate-lazy-scripted');
      return res;
    });
    expect(r).toMatchObject({ path: 'post-copy', newPid: 9101, from: 'node-a', to: 'node-b' });
    // The source took a lazy dump (no ordinary one), the target a lazy restore from the tunnel's
    // loopback end, and then the durable copy's dump, which left the process running.
    expect(a.criu.calls).toEqual(['lazy-dump:layer-0']);
    expect(a.criu.lazyDumpEnds).toEqual(['served']);
    expect(b.criu.calls).toEqual([expect.stringMatching(/^restore:.*downloads.*layer-0:lazy$/), 'dump:layer-0:parent=-']);
    expect(a.criu.alive.has(PID)).toBe(false);
    expect(b.criu.alive.has(9101)).toBe(true);
    const pc = r.postCopy!;
    expect(pc.risk).toBe(POST_COPY_RISK);
    expect(pc.tunnelBytes).toBe(3 * 1024 * 1024);
    expect(pc.imagesBytes).toBe(2048 + 3); // core-1.img and inventory.img: no memory
    expect(pc.runningOnTargetMs).toBeLessThanOrEqual(pc.lastPageAtMs);
    expect(pc.pagesAfterRunningMs).toBe(pc.lastPageAtMs - pc.runningOnTargetMs);
    expect(r.downtime.totalMs).toBe(pc.runningOnTargetMs);
    const p = r.downtime.parts;
    expect(Math.abs(p.finalDumpMs + p.directMs! + p.restoreMs + p.otherMs - r.downtime.totalMs)).toBeLessThanOrEqual(1);
    // The durable copy: a checkpoint of the new pid on B, stored complete, the process left running.
    expect(pc.durableCopy.checkpointId).toBe(r.checkpointId);
    expect(pc.durableCopy.workflowId).toBe('ferry-process-node-b-9101');
    expect(r.checkpoint).toMatchObject({ host: 'node-b', pid: 9101, leftRunning: true });
    expect(pc.durableCopy.storedAtMs).toBeGreaterThanOrEqual(pc.lastPageAtMs);
    expect(store.manifests.get(r.checkpointId)?.complete).toBe(true);
    expect(leftovers(a.deps.stagingDir)).toEqual([]);
    expect(leftovers(b.deps.stagingDir)).toEqual([]);
  });

  test('the restore on B fails before the process ran: CRIU resumes it on A, PostCopyFailed says so, nothing is stored', async () => {
    const { store, a, b, prefix } = twoHosts('lazyrf');
    b.criu.failLazyRestoreBeforeRunning = true;
    const err = await withWorkers(shared.env, prefix, [a, b], (ferry) => ferry.migrate({ pid: PID, from: 'node-a', to: 'node-b', lazy: true }).catch((x: unknown) => x));
    expect(isError(err, WorkflowRunFailedError)).toBe(true);
    expect((err as { failureType: string }).failureType).toBe('PostCopyFailed');
    expect((err as Error).message).toMatch(/had not run on node-b; CRIU resumed it on node-a, where it keeps running/);
    expect(a.criu.lazyDumpEnds).toEqual(['resumed']);
    expect(a.criu.alive.has(PID)).toBe(true);
    expect([...store.manifests.values()].some((m) => m.complete)).toBe(false);
    expect(leftovers(a.deps.stagingDir)).toEqual([]);
    expect(leftovers(b.deps.stagingDir)).toEqual([]);
  });

  test('the source stops serving pages after the process ran on B: the failure says it ran there and was resumed on A', async () => {
    const { a, b, prefix } = twoHosts('lazycut');
    a.criu.lazyPageBytes = 1024 * 1024;
    a.criu.lazyServeCutAt = 64 * 1024;
    b.criu.restoredPid = 9102;
    const err = await withWorkers(shared.env, prefix, [a, b], (ferry) => ferry.migrate({ pid: PID, from: 'node-a', to: 'node-b', lazy: true }).catch((x: unknown) => x));
    expect((err as { failureType: string }).failureType).toBe('PostCopyFailed');
    expect((err as Error).message).toMatch(/already run on node-b; its copy there was killed .* CRIU resumed the process on node-a/);
    expect(a.criu.lazyDumpEnds).toEqual(['resumed']);
    expect(a.criu.alive.has(PID)).toBe(true);
    // No durable copy of a process that lacked memory.
    expect(b.criu.calls.filter((c) => c.startsWith('dump:'))).toEqual([]);
  });

  test('the durable copy fails after every page is in: MigratedNotStored, the process runs on B with both times in the details', async () => {
    const { store, a, b, prefix } = twoHosts('lazyns');
    b.criu.restoredPid = 9103;
    store.failPut = () => Object.assign(new Error('bucket gone'), { name: 'BucketMissing' });
    const err = await withWorkers(shared.env, prefix, [a, b], (ferry) => ferry.migrate({ pid: PID, from: 'node-a', to: 'node-b', lazy: true }).catch((x: unknown) => x));
    expect((err as { failureType: string }).failureType).toBe('MigratedNotStored');
    expect((err as Error).message).toMatch(/now runs on node-b as pid 9103/);
    expect(a.criu.lazyDumpEnds).toEqual(['served']);
    expect(a.criu.alive.has(PID)).toBe(false);
    expect(b.criu.alive.has(9103)).toBe(true);
    expect(leftovers(a.deps.stagingDir)).toEqual([]);
  });

  test('a target without a direct address: refused before anything is dumped', async () => {
    const { a, b, prefix } = twoHosts('lazynd', { targetDirect: false });
    const err = await withWorkers(shared.env, prefix, [a, b], (ferry) => ferry.migrate({ pid: PID, from: 'node-a', to: 'node-b', lazy: true }).catch((x: unknown) => x));
    expect((err as { failureType: string }).failureType).toBe('PostCopyFailed');
    expect((err as Error).message).toMatch(/needs the direct link .*nothing was dumped: the process keeps running on node-a/);
    expect(a.criu.calls).toEqual([]);
    expect(a.criu.alive.has(PID)).toBe(true);
  });

  test('lazy with direct: false is refused as invalid input', async () => {
    const { a, b, prefix } = twoHosts('lazyinv');
    const err = await withWorkers(shared.env, prefix, [a, b], (ferry) => ferry.migrate({ pid: PID, from: 'node-a', to: 'node-b', lazy: true, direct: false }).catch((x: unknown) => x));
    expect((err as { failureType: string }).failureType).toBe('InvalidInput');
    expect(a.criu.calls).toEqual([]);
  });
});
