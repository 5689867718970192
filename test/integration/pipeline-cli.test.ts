/**
 * ferry's CLI against the real stack (dev server + MinIO + CRIU), run in-process through the
 * same entry point as `bin/ferry.js`: a nightly pre-dump schedule created, triggered, its run
 * visible and its outcome right for this kernel; `ferry checkpoint --wait --json` and
 * `ferry status` by checkpoint id.
 */
import { ferryInProcess } from '../helpers/ferry-cli';
import type { CheckpointResult, WarmPreDumpResult } from '../../src/workflows/types';
import { Workload } from '../fixtures/workload/workload';
import { connectStack, hostDeps, startWorkers, type RunningWorkers, type Stack } from '../helpers/pipeline-harness';
import { captureHistory, workflowBundle } from '../helpers/temporal';
import { until } from '../helpers/until';

let stack: Stack;
let workers: RunningWorkers;
let workload: Workload;
const HOST = `it-s-${process.pid}`;
const SCHEDULE = `it-sched-${process.pid}`;

beforeAll(async () => {
  [stack] = await Promise.all([connectStack('cli'), workflowBundle()]);
  workers = await startWorkers(stack, [{ host: HOST, deps: hostDeps(stack, HOST) }]);
  workload = await Workload.start({ mib: 16 });
  // The CLI reads its configuration from the environment, like any user's shell.
  process.env.FERRY_TASK_QUEUE_PREFIX = stack.prefix;
  process.env.FERRY_STAGING_DIR = stack.stagingRoot;
}, 180000);

afterAll(async () => {
  await ferry(['schedule', 'delete', SCHEDULE]).catch(() => undefined);
  await workload?.stop();
  await workers?.stop();
  await stack?.close();
  delete process.env.FERRY_TASK_QUEUE_PREFIX;
  delete process.env.FERRY_STAGING_DIR;
});

/** Runs `ferry ...args` in-process; returns exit code and what it printed. */
const ferry = (args: string[]) => ferryInProcess(...args);

describe('ferry CLI on the real stack', () => {
  test('schedule create -> trigger -> run visible; on this kernel the run ends cleanly saying why', async () => {
    const created = await ferry(['schedule', 'create', SCHEDULE, '--host', HOST, '--pid', String(workload.pid), '--cron', '0 2 * * *', '--json']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const desc = JSON.parse(created.stdout) as { scheduleId: string; overlap: string; cron: string[]; workflowType: string; nextActionTimes: string[] };
    expect(desc).toMatchObject({ scheduleId: SCHEDULE, overlap: 'SKIP', cron: ['0 2 * * *'], workflowType: 'warmPreDump' });
    expect(desc.nextActionTimes.length).toBeGreaterThan(0);

    expect((await ferry(['schedule', 'trigger', SCHEDULE])).code).toBe(0);
    const action = await until('the triggered run to show up', async () => {
      const shown = JSON.parse((await ferry(['schedule', 'show', SCHEDULE, '--json'])).stdout) as { recentActions: Array<{ workflowId: string; runId: string }> };
      return shown.recentActions[0];
    });
    const handle = stack.ferry.client.workflow.getHandle(action.workflowId, action.runId);
    const r = (await handle.result()) as WarmPreDumpResult;
    await captureHistory(handle, 'warm-pre-dump-skipped');
    expect(r).toMatchObject({ outcome: 'skipped', pid: workload.pid, layer: null });
    expect(r.reason).toMatch(/soft-dirty/);
    // Never attempting a pre-dump matters here: a failed one leaves CRIU memfds in the process.
    expect(workload.maps().some((l) => l.includes('CRIUMFD'))).toBe(false);
    expect((await workload.verify()).ok).toBe(true);

    expect((await ferry(['schedule', 'pause', SCHEDULE, '--note', 'test'])).code).toBe(0);
    expect(JSON.parse((await ferry(['schedule', 'show', SCHEDULE, '--json'])).stdout)).toMatchObject({ paused: true, note: 'test' });
    // The list comes from the visibility store, which lags behind by design: poll it.
    const ls = async () => JSON.parse((await ferry(['schedule', 'ls', '--json'])).stdout) as Array<{ scheduleId: string; paused: boolean }>;
    await until('the paused schedule in `schedule ls`', async () => (await ls()).find((s) => s.scheduleId === SCHEDULE && s.paused));
    expect((await ferry(['schedule', 'delete', SCHEDULE])).code).toBe(0);
    await until('the schedule to leave `schedule ls`', async () => !(await ls()).some((s) => s.scheduleId === SCHEDULE));
  });

  test('checkpoint --wait --json prints the result; status finds it by checkpoint id', async () => {
    const out = await ferry(['checkpoint', '--pid', String(workload.pid), '--host', HOST, '--leave-running', '--wait', '--json']);
    expect(out.code).toBe(0);
    const r = JSON.parse(out.stdout) as CheckpointResult & { url: string };
    expect(r.workflowId).toBe(`ferry-process-${HOST}-${workload.pid}`);
    expect(r.layers[0]).toMatchObject({ index: 0, kind: 'dump', uploaded: true });
    expect(r.layers[0].stats.pagesWritten).toBeGreaterThan(4000);
    expect(r.preDumps).toMatchObject({ available: false, stopReason: 'kernel-cannot-track' });
    expect(r.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\//);
    expect(workload.isRunning()).toBe(true);

    const status = await ferry(['status', r.checkpointId, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ workflowId: r.workflowId, status: 'COMPLETED', type: 'checkpoint', result: { checkpointId: r.checkpointId } });

    const human = await ferry(['status', r.workflowId]);
    expect(human.stdout).toContain(`checkpoint ${r.checkpointId} of pid ${workload.pid}`);
    expect(human.stdout).toMatch(/pre-dumps: none; .*soft-dirty/);
  });

  test('bad flags are usage errors and start nothing', async () => {
    const r = await ferry(['checkpoint', '--pid', 'abc', '--host', HOST]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--pid must be a positive integer/);
    const m = await ferry(['migrate', '--pid', '5', '--from', HOST, '--to', HOST]);
    expect(m.code).toBe(2);
    const s = await ferry(['schedule', 'create', 'x', '--host', HOST, '--pid', '5', '--cron', 'every night']);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/--cron must be a cron expression/);
  });
});
