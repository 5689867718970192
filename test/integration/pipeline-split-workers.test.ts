/**
 * Workflow code and host activities in separate `ferry worker` processes (`--no-activities` and
 * `--no-workflows`), as on a host too small or slow to run the workflow code: a real checkpoint
 * (real CRIU, the dev stack's Temporal and MinIO) completes across the two. Run `npm run build` first.
 */
import { spawnSync } from 'node:child_process';
import { Workload } from '../fixtures/workload/workload';
import { connectStack, spawnWorker, stackEnv, FERRY_BIN, type Stack, type WorkerProcess } from '../helpers/pipeline-harness';
import { freePort } from '../helpers/ports';

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

/** Every sample of `name` in a Prometheus text exposition, as label text -> value. */
function samples(text: string, name: string): Array<{ labels: string; value: number }> {
  return [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))].map((m) => ({ labels: m[1]!, value: Number(m[2]) }));
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

test('a checkpoint runs through a workflow-only worker and an activities-only worker, and both report it in their metrics', async () => {
  const host = `it-split-${process.pid}`;
  const [workflowMetrics, hostMetrics] = [await freePort(), await freePort()];
  const workflowsOnly = await spawnWorker(stack, host, stackEnv(stack), ['--no-activities', '--metrics-address', `127.0.0.1:${workflowMetrics}`]);
  workers.push(workflowsOnly);
  const activitiesOnly = await spawnWorker(stack, host, stackEnv(stack), ['--no-workflows', '--metrics-address', `127.0.0.1:${hostMetrics}`]);
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

  // The workflow worker counts the workflow's end and the chain it stored.
  const wf = await scrape(workflowMetrics);
  expect(samples(wf, 'ferry_workflows_total').filter((x) => /outcome="completed"/.test(x.labels) && /workflow="checkpoint"/.test(x.labels))).toEqual([
    expect.objectContaining({ value: 1 }),
  ]);
  expect(samples(wf, 'ferry_chain_layers_count').map((x) => x.value)).toEqual([1]);
  expect(samples(wf, 'ferry_chain_layers_sum').map((x) => x.value)).toEqual([manifest.layers.length]);
  // The host worker: the dumps, their frozen time, the bytes sent, with the host as a label; and the SDK's own metrics.
  const hw = await scrape(hostMetrics);
  const dumped = samples(hw, 'ferry_layers_dumped_total').filter((x) => x.labels.includes(`host="${host}"`));
  expect(dumped.reduce((n, x) => n + x.value, 0)).toBe(manifest.layers.length);
  expect(samples(hw, 'ferry_dump_frozen_ms_count').reduce((n, x) => n + x.value, 0)).toBe(manifest.layers.length);
  expect(samples(hw, 'ferry_dump_frozen_ms_sum').reduce((n, x) => n + x.value, 0)).toBeGreaterThan(0);
  const stored = samples(hw, 'ferry_bytes_stored_total').reduce((n, x) => n + x.value, 0);
  expect(stored).toBeGreaterThan(16 * 1024 * 1024 * 0.9);
  expect(stored).toBeLessThanOrEqual(manifest.layers.reduce((n, l) => n + l.bytes, 0));
  expect(hw).toMatch(/^temporal_activity_execution_latency/m);
});
