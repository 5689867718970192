/**
 * The host policy enforced by a real `ferry worker` (its own process, FERRY_HOST_POLICY set) on
 * the dev stack's Temporal and MinIO: `ferry checkpoint --wait` of a process whose executable the
 * policy does not allow fails with PolicyRefused at once (never retried); the process keeps
 * running untouched and nothing is stored or left in staging. Run `npm run build` first.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Workload } from '../fixtures/workload/workload';
import { FERRY_BIN, connectStack, spawnWorker, stackEnv, type Stack, type WorkerProcess } from '../helpers/pipeline-harness';
import { until } from '../helpers/until';

jest.setTimeout(180000);

let stack: Stack;
let workload: Workload | undefined;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  stack = await connectStack('policy');
});

afterAll(async () => {
  await worker?.stop();
  await workload?.stop();
  await stack?.close();
});

test('a worker whose policy refuses the executable: checkpoint fails PolicyRefused, process untouched, nothing stored', async () => {
  const host = `it-pol-${process.pid}`;
  const policyFile = path.join(stack.stagingRoot, 'policy.json');
  fs.writeFileSync(policyFile, JSON.stringify({ version: 1, processes: { uids: 'any', executables: ['/usr/bin/only-this-one'] } }));
  worker = await spawnWorker(stack, host, stackEnv(stack, { FERRY_HOST_POLICY: policyFile }));
  workload = await Workload.start({ mib: 16 });
  const mapsBefore = workload.maps();
  const storedBefore = (await stack.store.list()).map((c) => c.checkpointId);

  const r = spawnSync(process.execPath, [FERRY_BIN, 'checkpoint', '--pid', String(workload.pid), '--host', host, '--wait', '--json'], {
    env: stackEnv(stack),
    encoding: 'utf8',
    timeout: 120000,
  });
  expect(r.status).toBe(1);
  // --json: the failure is the one JSON document on stdout.
  expect(JSON.parse(r.stdout)).toEqual({ error: { kind: 'workflow-run-failed', message: expect.stringMatching(/\(PolicyRefused\)/), exitCode: 1 } });
  expect(r.stderr).toMatch(/\(PolicyRefused\)/);
  expect(r.stderr).toMatch(new RegExp(`host policy refused dump of pid ${workload.pid}.*its executable .* is not an allowed executable`));

  // Refused once, before anything was touched: the worker logged exactly one refusal. (spawnSync
  // blocked this event loop, so the worker's stderr is read only now.)
  const w = worker;
  const refusalLines = () => w.stderr().split('\n').filter((l) => l.startsWith('ferry host-policy: refused'));
  await until('the worker to log the refusal', () => refusalLines().length > 0, 10000);
  await new Promise((r) => setTimeout(r, 500));
  const refusals = refusalLines();
  expect(refusals).toHaveLength(1);
  expect(refusals[0]).toContain(`policy ${policyFile}`);

  expect(workload.isRunning()).toBe(true);
  expect(workload.maps()).toEqual(mapsBefore);
  expect(await workload.verify()).toMatchObject({ ok: true, bad: 0 });
  expect((await stack.store.list()).map((c) => c.checkpointId)).toEqual(storedBefore);
  const ck = path.join(stack.stagingRoot, host, 'checkpoints');
  expect(fs.existsSync(ck) ? fs.readdirSync(ck) : []).toEqual([]);
});

test('an invalid FERRY_HOST_POLICY stops the worker at start with a configuration error', () => {
  const bad = path.join(stack.stagingRoot, 'bad-policy.json');
  fs.writeFileSync(bad, '{"version": 1, "processes": {"uidz": [0]}}');
  const r = spawnSync(process.execPath, [FERRY_BIN, 'worker', '--host', `it-polbad-${process.pid}`], {
    env: stackEnv(stack, { FERRY_HOST_POLICY: bad }),
    encoding: 'utf8',
    timeout: 60000,
  });
  expect(r.status).toBe(78);
  expect(r.stderr).toMatch(/invalid configuration: FERRY_HOST_POLICY names .*bad-policy\.json, which has an unknown key/);
});

test('a root worker refuses to start without a host policy; on the dev stack it runs under the policy `ferry dev up` wrote, and says so', async () => {
  // A state dir without the dev stack's policy file: as on a host nobody has set up.
  const bareState = fs.mkdtempSync(path.join(stack.stagingRoot, 'no-policy-state-'));
  const env = stackEnv(stack, { FERRY_STATE_DIR: bareState });
  delete env.FERRY_HOST_POLICY;
  const r = spawnSync(process.execPath, [FERRY_BIN, 'worker', '--host', `it-polnone-${process.pid}`], {
    env,
    encoding: 'utf8',
    timeout: 60000,
  });
  expect(r.status).toBe(78);
  expect(r.stderr).toMatch(/invalid configuration: FERRY_HOST_POLICY is not set, and this worker runs as root/);
  expect(r.stderr).not.toMatch(/ready:/);

  const devPolicy = stack.config.dev.hostPolicyFile;
  expect(JSON.parse(fs.readFileSync(devPolicy, 'utf8'))).toMatchObject({ version: 1, processes: { uids: 'any' } });
  expect(fs.statSync(devPolicy).mode & 0o777).toBe(0o600);
  // Without the setting, a ferry that uses the dev stack for everything finds the dev stack's policy.
  const devEnv = stackEnv(stack);
  delete devEnv.FERRY_HOST_POLICY;
  const devWorker = await spawnWorker(stack, `it-poldev-${process.pid}`, devEnv);
  try {
    expect(devWorker.stderr()).toContain(`host policy ${devPolicy}`);
  } finally {
    await devWorker.stop();
  }
});
