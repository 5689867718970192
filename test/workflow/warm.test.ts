/**
 * Warm pre-dumps (what nightly schedules run) and checkpoints built on the warm chain, on a real
 * Temporal dev server with the real activities and fake CRIU / store ports.
 */
import type { WarmPreDumpResult } from '../../src/workflows/types';
import { FakeStore, fakeHost } from '../helpers/fake-host';
import { captureHistory } from '../helpers/temporal';
import { tempRoot } from '../helpers/temp-dirs';
import { until } from '../helpers/until';
import { uniquePrefix, useWorkflowEnv, withWorkers } from '../helpers/workflow-env';

const shared = useWorkflowEnv();

const PID = 3333;

function setup(tag: string) {
  const store = new FakeStore();
  const host = fakeHost('warmhost', store, tempRoot(tag));
  host.criu.alive.add(PID);
  return { store, host, prefix: uniquePrefix() };
}

async function warmRun(ferry: import('../../src/client').FerryClient, prefix: string, input: Record<string, unknown>): Promise<WarmPreDumpResult> {
  return ferry.client.workflow.execute('warmPreDump', {
    taskQueue: `${prefix}-workflows`,
    workflowId: `warm-test-${prefix}-${Math.random().toString(16).slice(2)}`,
    args: [{ host: 'warmhost', taskQueuePrefix: prefix, ...input }],
  }) as Promise<WarmPreDumpResult>;
}

describe('warm pre-dumps', () => {
  test('kernel without soft-dirty: the run ends cleanly and says why, nothing dumped', async () => {
    const { host, prefix, store } = setup('nosd');
    host.criu.memTrack = false;
    const r = await withWorkers(shared.env, prefix, [host], (ferry) => warmRun(ferry, prefix, { pid: PID }));
    expect(r).toMatchObject({ outcome: 'skipped', chainCheckpointId: null, layer: null });
    expect(r.reason).toMatch(/soft-dirty/);
    expect(host.criu.calls).toEqual([]);
    expect(store.manifests.size).toBe(0);
  });

  test('runs grow one chain, start a new one when it is too long, and a checkpoint builds on it', async () => {
    const { host, prefix, store } = setup('chain');
    host.criu.preDumpPages = [50000, 3000, 2000, 1500];
    const out = await withWorkers(shared.env, prefix, [host], async (ferry) => {
      const r1 = await warmRun(ferry, prefix, { pid: PID, maxChainLength: 2 });
      const r2 = await warmRun(ferry, prefix, { pid: PID, maxChainLength: 2 });
      // No catch-up either: on a loaded machine the warm layer can be older than policy.maxLayerAgeMs by now.
      const ck = await ferry.checkpoint({ host: 'warmhost', pid: PID, fromWarm: true, policy: { maxPreDumps: 0, maxCatchUps: 0 }, leaveRunning: true });
      await captureHistory(ferry.client.workflow.getHandle(ck.workflowId), 'checkpoint-from-warm-scripted');
      const r3 = await warmRun(ferry, prefix, { pid: PID, maxChainLength: 2 });
      return { r1, r2, r3, ck };
    });
    expect(out.r1).toMatchObject({ outcome: 'added', newChain: true, chainLength: 1 });
    expect(out.r2).toMatchObject({ outcome: 'added', newChain: false, chainLength: 2, chainCheckpointId: out.r1.chainCheckpointId });
    expect(out.r3).toMatchObject({ outcome: 'added', newChain: true, chainLength: 1 });
    expect(out.r3.reason).toMatch(/reached 2 layers/);
    // The checkpoint's final dump is incremental to the warm chain's last layer.
    expect(host.criu.calls[2]).toBe('dump:layer-2:parent=layer-1');
    expect(out.ck.layers.map((l) => [l.index, l.parentIndex])).toEqual([[2, 1]]);
    expect(out.ck.baseLayers).toEqual([
      { checkpointId: out.r1.chainCheckpointId, index: 0 },
      { checkpointId: out.r1.chainCheckpointId, index: 1 },
    ]);
    expect(out.ck.preDumps.warmLayers).toBe(2);
    expect(store.manifests.get(out.ck.checkpointId)?.baseLayers).toHaveLength(2);
    expect(store.manifests.get(out.r1.chainCheckpointId!)?.complete).toBe(false);
  });

  test('a pid file is read on the host at each run', async () => {
    const { host, prefix } = setup('pidfile');
    const fs = await import('node:fs');
    const path = await import('node:path');
    const pidFile = path.join(host.deps.stagingDir, 'app.pid');
    fs.writeFileSync(pidFile, `${PID}\n`);
    const r = await withWorkers(shared.env, prefix, [host], (ferry) => warmRun(ferry, prefix, { pidFile }));
    expect(r).toMatchObject({ outcome: 'added', pid: PID });
  });

  test('scheduled runs name their schedules in the chain manifest (gc keeps it while one exists), also a schedule made without the id in its input', async () => {
    const { host, prefix, store } = setup('sched');
    const ids = await withWorkers(shared.env, prefix, [host], async (ferry) => {
      const [first, second] = [`first-${prefix}`, `second-${prefix}`];
      const chainSchedules = (): string[] | undefined => [...store.manifests.entries()].find(([id]) => id.startsWith('warm-'))?.[1].warm?.scheduleIds;
      await ferry.createWarmSchedule({ scheduleId: first, cron: '0 2 1 1 *', input: { host: 'warmhost', pid: PID } });
      // As schedules were created before ferry passed its id: Temporal's TemporalScheduledById tells the run.
      await ferry.client.schedule.create({
        scheduleId: second,
        spec: { cronExpressions: ['0 2 1 1 *'] },
        action: { type: 'startWorkflow', workflowType: 'warmPreDump', taskQueue: `${prefix}-workflows`, workflowId: `ferry-warm-${second}`, args: [{ host: 'warmhost', pid: PID, taskQueuePrefix: prefix }] },
      });
      try {
        await ferry.triggerSchedule(first);
        await until('the first schedule\'s run to commit the chain', () => chainSchedules()?.length === 1, 60_000);
        await ferry.triggerSchedule(second);
        return await until('the second schedule\'s run to add its layer', () => (chainSchedules()?.length === 2 ? chainSchedules() : undefined), 60_000);
      } finally {
        await ferry.deleteSchedule(first);
        await ferry.deleteSchedule(second);
      }
    });
    expect(ids).toEqual([`first-${prefix}`, `second-${prefix}`]);
  });
});
