/**
 * Workflow code and host activities in separate `ferry worker` processes (`--no-activities` and
 * `--no-workflows`), as on a host too small or slow to run the workflow code: a real checkpoint
 * (real CRIU, the dev stack's Temporal and MinIO) completes across the two. Run `npm run build` first.
 */
import { spawnSync } from 'node:child_process';
import { Workload } from '../fixtures/workload/workload';
import { connectStack, spawnWorker, stackEnv, FERRY_BIN, type Stack, type WorkerProcess } from '../helpers/pipeline-harness';

jest.setTimeout(180000);

let stack: Stack;
let workload: Workload | undefined;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  stack = await connectStack('split');
});

afterAll(async () => {
  for (const w of workers) await w.stop();
  await workload?.stop();
  await stack?.close();
});

test('a checkpoint runs through a workflow-only worker and an activities-only worker', async () => {
  const host = `it-split-${process.pid}`;
  const workflowsOnly = await spawnWorker(stack, host, stackEnv(stack), ['--no-activities']);
  workers.push(workflowsOnly);
  const activitiesOnly = await spawnWorker(stack, host, stackEnv(stack), ['--no-workflows']);
  workers.push(activitiesOnly);
  // Each says what it runs, and only that.
  expect(workflowsOnly.stderr()).toMatch(/ferry worker \(workflow code only\) ready: workflows on \S+-workflows, Temporal at/);
  expect(workflowsOnly.stderr()).not.toContain('activities on');
  expect(activitiesOnly.stderr()).toMatch(new RegExp(`ferry worker for host ${host} ready: activities on \\S+-host-${host}, staging in `));
  expect(activitiesOnly.stderr()).not.toContain('workflows on');

  workload = await Workload.start({ mib: 16 });
  const r = spawnSync(process.execPath, [FERRY_BIN, 'checkpoint', '--pid', String(workload.pid), '--host', host, '--leave-running', '--wait', '--json'], {
    env: stackEnv(stack),
    encoding: 'utf8',
    timeout: 150000,
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const result = JSON.parse(r.stdout) as { checkpointId: string };
  const manifest = await stack.store.readManifest(result.checkpointId);
  expect(manifest.complete).toBe(true);
  expect(manifest.layers[manifest.layers.length - 1]!.kind).toBe('dump');
  expect(workload.isRunning()).toBe(true);
  expect(await workload.verify()).toMatchObject({ ok: true, bad: 0 });
});
