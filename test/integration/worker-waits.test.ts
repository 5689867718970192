/**
 * `ferry worker` started before its Temporal server (issue 18): it waits, saying at each attempt
 * what it waits for and why, backs off 1 s, 2 s, 4 s ..., and serves its task queue once the server
 * comes up. SIGINT while it waits ends it cleanly; --connect-timeout bounds the wait. The real
 * command (bin/ferry.js, built) against a real Temporal dev server started late.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { ferryProcessWithEnv, type FerryRun } from '../helpers/ferry-cli';
import { freePort } from '../helpers/ports';
import { killAndWait } from '../helpers/processes';
import { PrivateTemporal } from '../helpers/temporal';
import { until } from '../helpers/until';

jest.setTimeout(240_000);

let work: string;
const started: Array<ReturnType<typeof ferryProcessWithEnv>> = [];

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'ferry-worker-wait-'));
});

afterAll(async () => {
  for (const p of started) await killAndWait(p.child);
  rmSync(work, { recursive: true, force: true });
});

/** The real `ferry worker`, pointed at `address`, running workflow code only (no CRIU needed). */
function worker(address: string, ...flags: string[]): ReturnType<typeof ferryProcessWithEnv> {
  const env = { ...process.env, FERRY_TEMPORAL_ADDRESS: address, FERRY_STATE_DIR: path.join(work, 'state'), FERRY_TASK_QUEUE_PREFIX: 'waits' };
  const p = ferryProcessWithEnv(env, 'worker', '--no-activities', ...flags);
  started.push(p);
  return p;
}

const waitLines = (run: FerryRun): string[] => run.stderr.split('\n').filter((l) => l.includes('waiting for Temporal'));

it('waits for a Temporal that is not up yet, backing off, then connects and polls its queue', async () => {
  const temporal = new PrivateTemporal(path.join(work, 'late.db'));
  temporal.port = await freePort();
  const w = worker(temporal.address);
  try {
    const lines = await until('two waits logged', () => (waitLines(w.output()).length >= 2 ? waitLines(w.output()) : null), 30_000);
    expect(lines[0]).toMatch(new RegExp(`^ferry worker: waiting for Temporal at 127\\.0\\.0\\.1:${temporal.port}: attempt 1 failed \\(.+\\); trying again in 1\\.0 s$`));
    expect(lines[1]).toMatch(/attempt 2 failed \(.+\); trying again in 2\.0 s$/);
    expect(w.child.exitCode).toBeNull();

    await temporal.start();
    await until('the worker to say it is ready', () => /ferry worker \(workflow code only\) ready: workflows on waits-workflows/.test(w.output().stderr), 90_000);
    const connection = await Connection.connect({ address: temporal.address });
    try {
      const client = new Client({ connection });
      const pollers = await until('a poller on waits-workflows', async () => {
        const r = await client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: 'waits-workflows', kind: 1 }, taskQueueType: 1 });
        return (r.pollers ?? []).length > 0 ? r.pollers : null;
      }, 60_000);
      expect(pollers!.length).toBeGreaterThan(0);
    } finally {
      await connection.close();
    }
    w.child.kill('SIGTERM');
    expect((await w.done).code).toBe(0);
  } finally {
    await killAndWait(w.child);
    await temporal.kill();
  }
});

it('SIGINT while waiting ends the worker cleanly', async () => {
  const w = worker(`127.0.0.1:${await freePort()}`);
  await until('a wait logged', () => waitLines(w.output()).length >= 1, 30_000);
  w.child.kill('SIGINT');
  const run = await w.done;
  expect(run.code).toBe(0);
  expect(run.stderr).toMatch(/ferry worker: SIGINT while waiting for Temporal; exiting/);
  expect(run.stderr).not.toMatch(/ready:/);
});

it('--connect-timeout gives up, saying what it tried', async () => {
  const port = await freePort();
  const run = await worker(`127.0.0.1:${port}`, '--connect-timeout', '3s').done;
  expect(run.code).not.toBe(0);
  expect(run.stderr).toMatch(new RegExp(`cannot reach Temporal at 127\\.0\\.0\\.1:${port} .*ECONNREFUSED.* \\(tried \\d+ time\\(s\\) in \\d+ s\\)`));
  expect(waitLines(run).length).toBeGreaterThanOrEqual(2);
});
