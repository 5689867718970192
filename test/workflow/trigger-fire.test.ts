/**
 * Firing a rule while a checkpoint of the same process already runs (scripted CRIU held inside
 * its first pre-dump, real Temporal dev server): the event joins that run instead of starting a
 * second dump, and tells it to dump now only when the event's deadline requires it; a dump-now
 * rule with nothing running starts nothing.
 */
import type { CheckpointResult } from '../../src/workflows/types';
import { fireRule } from '../../src/triggers/fire';
import { parseTriggerRules } from '../../src/triggers/rules';
import type { ProcessSnapshot } from '../../src/triggers/match';
import { FakeStore, fakeHost } from '../helpers/fake-host';
import { tempRoot } from '../helpers/temp-dirs';
import { until } from '../helpers/until';
import { uniquePrefix, useWorkflowEnv, withWorkers } from '../helpers/workflow-env';

const shared = useWorkflowEnv();
const PID = 4545;
const HOST = 'hostf';
const proc: ProcessSnapshot = { pid: PID, ppid: 1, startTime: 999, bootId: 'b', comm: 'app', cmdline: 'app', cgroup: null };

const rules = parseTriggerRules(
  JSON.stringify({
    version: 1,
    rules: [
      { name: 'save', target: { pidFile: '/run/app.pid' }, events: ['request', 'preemption'], action: { type: 'checkpoint' }, policy: { finalReserveMs: 30000 } },
      { name: 'hurry', target: { pidFile: '/run/app.pid' }, events: ['request'], action: { type: 'dump-now' } },
    ],
  }),
  '/etc/ferry/triggers.json',
).rules;
const [save, hurry] = [rules[0]!, rules[1]!];

test('an event for a process whose checkpoint runs joins it: dumpNow only once the deadline is within the reserve', async () => {
  const host = fakeHost(HOST, new FakeStore(), tempRoot('fire-join'));
  host.criu.alive.add(PID);
  host.criu.preDumpPages = [50000, 40000, 30000, 20000];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered = false;
  host.criu.onPreDump = async (n) => {
    if (n === 0) {
      entered = true;
      await gate;
    }
  };
  await withWorkers(shared.env, uniquePrefix(), [host], async (ferry) => {
    const handle = await ferry.startCheckpoint({ host: HOST, pid: PID, policy: { maxPreDumps: 4, minPagesWritten: 10, minShrinkRatio: 0.99 } });
    await until('the first pre-dump to be running', () => entered);

    // Far deadline: joins, tells nothing yet, says when.
    const now = Date.now();
    const far = await fireRule({ ferry, host: HOST, rule: save, notice: { event: 'preemption', id: 'aws:terminate:far', deadlineMs: now + 600_000, detail: 'test' }, processes: [proc], now: () => now });
    expect(far).toEqual([expect.objectContaining({ outcome: 'joined', workflowId: handle.workflowId, dumpNowSent: false, dumpNowDueMs: now + 600_000 - 30_000 })]);
    expect((await ferry.progress<{ dumpNowRequested: boolean }>(handle.workflowId)).dumpNowRequested).toBe(false);

    // Near deadline: joins and tells it to dump now.
    const near = await fireRule({ ferry, host: HOST, rule: save, notice: { event: 'preemption', id: 'aws:terminate:near', deadlineMs: Date.now() + 10_000, detail: 'test' }, processes: [proc] });
    expect(near).toEqual([expect.objectContaining({ outcome: 'joined', workflowId: handle.workflowId, dumpNowSent: true })]);
    release();
    const r = await ferry.result<CheckpointResult>(handle.workflowId);
    expect(r.preDumps).toMatchObject({ count: 1, stopReason: 'dump-now-requested' });
  });
  expect(host.criu.calls.filter((c) => c.startsWith('dump:'))).toHaveLength(1);
});

test('a dump-now rule with no checkpoint running starts nothing', async () => {
  const host = fakeHost(HOST, new FakeStore(), tempRoot('fire-none'));
  host.criu.alive.add(PID);
  await withWorkers(shared.env, uniquePrefix(), [host], async (ferry) => {
    const fired = await fireRule({ ferry, host: HOST, rule: hurry, notice: { event: 'request', id: 'r1', deadlineMs: null, detail: 'test' }, processes: [proc] });
    expect(fired).toEqual([expect.objectContaining({ outcome: 'none', workflowId: null, dumpNowSent: false })]);
  });
  expect(host.criu.calls).toEqual([]);
});
