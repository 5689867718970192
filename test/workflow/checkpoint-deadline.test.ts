/**
 * The checkpoint workflow with an event's deadline (scripted CRIU and store on a real Temporal dev
 * server): with no more than the reserve left it takes no pre-dump, though the host could and the
 * policy asks for them; a deadline already past is planned as such from the start and the result
 * reports it missed, by how much; a deadline that is not an ISO time is refused as input.
 */
import type { CheckpointResult } from '../../src/workflows/types';
import { FakeStore, fakeHost } from '../helpers/fake-host';
import { tempRoot } from '../helpers/temp-dirs';
import { uniquePrefix, useWorkflowEnv, withWorkers } from '../helpers/workflow-env';
import { WorkflowRunFailedError } from '../../src/client/errors';

const shared = useWorkflowEnv();
const PID = 4343;

function setup(tag: string) {
  const store = new FakeStore();
  const host = fakeHost('hostd', store, tempRoot(tag));
  host.criu.alive.add(PID);
  host.criu.preDumpPages = [50000, 20000, 8000];
  return { store, host, prefix: uniquePrefix() };
}

const policy = { maxPreDumps: 2, minPagesWritten: 10 };

test('a deadline within the reserve: no pre-dumps, one final dump, stored and reported with its margin', async () => {
  const { store, host, prefix } = setup('dl-tight');
  const deadline = new Date(Date.now() + 20_000).toISOString();
  const r = await withWorkers(shared.env, prefix, [host], (ferry) => ferry.checkpoint({ host: 'hostd', pid: PID, policy, deadline, deadlineReserveMs: 60_000 }));
  expect(host.criu.calls).toEqual(['dump:layer-0:parent=-']);
  expect(r.preDumps.count).toBe(0);
  expect(r.deadline).toMatchObject({ deadline, outlook: 'tight', met: true });
  expect(r.deadline!.marginMs).toBeGreaterThan(0);
  expect(r.deadline!.marginMs).toBeLessThanOrEqual(20_000);
  expect(store.manifests.get(r.checkpointId)!.complete).toBe(true);
});

test('the same policy without a deadline does take the pre-dumps (the test above can fail)', async () => {
  const { host, prefix } = setup('dl-none');
  const r: CheckpointResult = await withWorkers(shared.env, prefix, [host], (ferry) => ferry.checkpoint({ host: 'hostd', pid: PID, policy }));
  expect(r.preDumps.count).toBe(2);
  expect(r.deadline).toBeUndefined();
});

test('a deadline already past: planned as past from the start (no pre-dumps), and the result reports it missed', async () => {
  const { store, host, prefix } = setup('dl-past');
  const deadline = new Date(Date.now() - 5_000).toISOString();
  await withWorkers(shared.env, prefix, [host], async (ferry) => {
    const handle = await ferry.startCheckpoint({ host: 'hostd', pid: PID, policy, deadline });
    const r = await ferry.result<CheckpointResult>(handle.workflowId);
    expect(r.deadline).toMatchObject({ deadline, outlook: 'past', met: false });
    expect(r.deadline!.marginMs).toBeLessThanOrEqual(-5_000);
    expect(r.deadline!.detail).toMatch(/^stored \d+ ms after the deadline$/);
    expect(r.preDumps.count).toBe(0);
    expect(store.manifests.get(r.checkpointId)!.complete).toBe(true);
    const status = await ferry.status(handle.workflowId);
    expect(status.status).toBe('COMPLETED');
  });
  expect(host.criu.calls).toEqual(['dump:layer-0:parent=-']);
});

test('a deadline that is not an ISO time with a zone is refused as input', async () => {
  const { host, prefix } = setup('dl-bad');
  const err = await withWorkers(shared.env, prefix, [host], (ferry) => ferry.checkpoint({ host: 'hostd', pid: PID, deadline: 'tomorrow' }).then(() => null, (e: unknown) => e));
  expect(err).toBeInstanceOf(WorkflowRunFailedError);
  expect((err as WorkflowRunFailedError).detail).toMatch(/deadline must be an ISO 8601 time with a zone/);
  expect(host.criu.calls).toEqual([]);
});
