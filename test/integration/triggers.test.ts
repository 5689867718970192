/**
 * Event-driven checkpoints on the real stack: a real `ferry worker` (bin/ferry.js) with trigger
 * rules, the dev stack's Temporal and MinIO, real CRIU on a real workload.
 *
 * - request: the HTTP endpoint refuses a request without the token (or with a wrong one) and
 *   starts nothing; two identical requests start one workflow, whose checkpoint is stored and
 *   restores with its memory intact;
 * - preemption: a local server playing the AWS metadata service (IMDSv2) announces a spot
 *   termination; the checkpoint is stored before the notice's time and the result says so, and
 *   the notice polled again and again starts no second workflow;
 * - memory-pressure: of two processes, the one whose resident memory is above the rule's limit
 *   is checkpointed, once however often the limit is checked; the one below it is not;
 * - shutdown: SIGTERM to a worker whose rule protects a live process; the checkpoint is stored
 *   before the worker exits.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { CheckpointResult } from '../../src/workflows/types';
import { readBootId, readProcStat } from '../../src/criu/process';
import { processTriggerPrefix, triggerWorkflowId } from '../../src/triggers/event-ids';
import { Workload } from '../fixtures/workload/workload';
import { connectStack, spawnWorker, stackEnv, type Stack, type WorkerProcess } from '../helpers/pipeline-harness';
import { freePort } from '../helpers/ports';
import { ferryProcessWithEnv } from '../helpers/ferry-cli';
import { until } from '../helpers/until';
import { captureHistory } from '../helpers/temporal';

const MIB = 16;
const TOKEN = 'tok-' + 'x'.repeat(12) + process.pid.toString(16) + 'e7c1';
let stack: Stack;
let dir: string;
const workloads: Workload[] = [];
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  stack = await connectStack('trig');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-it-triggers-'));
  fs.writeFileSync(path.join(dir, 'token'), TOKEN + '\n', { mode: 0o600 });
}, 120000);

afterAll(async () => {
  for (const w of workers) await w.kill().catch(() => undefined);
  for (const w of workloads) await w.stop().catch(() => undefined);
  await stack?.close();
});

async function workloadWithPidFile(name: string, mib = MIB): Promise<{ w: Workload; pidFile: string; startTime: number }> {
  const w = await Workload.start({ mib, dirtyPermille: 10, intervalMs: 100 });
  workloads.push(w);
  const pidFile = path.join(dir, `${name}.pid`);
  fs.writeFileSync(pidFile, `${w.pid}\n`);
  return { w, pidFile, startTime: readProcStat(w.pid)!.startTime };
}

function writeRules(name: string, rules: unknown[]): string {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ version: 1, rules }));
  return file;
}

/** Workflow ids of this process's trigger workflows (any status), from the server's visibility. */
async function triggerWorkflowsOf(host: string, pid: number, startTime: number): Promise<string[]> {
  const prefix = processTriggerPrefix({ host, pid, startTime });
  const ids: string[] = [];
  for await (const wf of stack.ferry.client.workflow.list({ query: `WorkflowType = 'checkpoint'` })) {
    if (wf.workflowId.startsWith(prefix)) ids.push(wf.workflowId);
  }
  return ids;
}

function post(target: { port: number } | { socketPath: string }, headers: Record<string, string>, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const where = 'port' in target ? { host: '127.0.0.1', port: target.port } : target;
    const req = http.request({ ...where, path: '/v1/checkpoints', method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test('request endpoint: no token or a wrong one starts nothing; two identical requests start one checkpoint, stored and restorable', async () => {
  const host = `it-trq-${process.pid}`;
  const { w, pidFile, startTime } = await workloadWithPidFile('req');
  const port = await freePort();
  const socket = path.join(dir, 'triggers.sock');
  const rules = writeRules('req', [{ name: 'app', target: { pidFile }, events: ['request'], action: { type: 'checkpoint' }, policy: { preDumps: 0 } }]);
  // `ferry triggers ls` shows the rule and the live process its pid file names.
  const ls = await ferryProcessWithEnv(stackEnv(stack, { FERRY_TRIGGERS: rules }), 'triggers', 'ls', '--host', host, '--json').done;
  expect(ls.code).toBe(0);
  const listed = JSON.parse(ls.stdout) as { rules: Array<{ name: string; matches: Array<{ pid: number; startTime: number }> }> };
  expect(listed.rules).toEqual([expect.objectContaining({ name: 'app', matches: [expect.objectContaining({ pid: w.pid, startTime })] })]);

  const worker = await spawnWorker(
    stack,
    host,
    stackEnv(stack, { FERRY_TRIGGERS: rules, FERRY_TRIGGER_LISTEN: `127.0.0.1:${port}`, FERRY_TRIGGER_SOCKET: socket, FERRY_TRIGGER_TOKEN_FILE: path.join(dir, 'token') }),
  );
  workers.push(worker);
  expect(worker.stderr()).toContain(`requests on 127.0.0.1:${port} and unix:${socket}`);
  expect(fs.statSync(socket).mode & 0o777).toBe(0o600);

  const deadline = new Date(Date.now() + 10 * 60_000).toISOString();
  const body = { rule: 'app', deadline };
  const expectedId = triggerWorkflowId('app', { host, pid: w.pid, startTime }, { event: 'request', id: `app\n${Date.parse(deadline)}` });

  const none = await post({ port }, {}, body);
  expect(none.status).toBe(401);
  expect(none.body.error).toBe('unauthorized');
  const wrong = await post({ socketPath: socket }, { authorization: `Bearer ${TOKEN}0` }, body);
  expect(wrong.status).toBe(401);
  await expect(stack.ferry.client.workflow.getHandle(expectedId).describe()).rejects.toThrow(/not found/i);
  expect(w.isRunning()).toBe(true);

  // The same request twice at once, once over TCP and once over the socket.
  const [a, b] = await Promise.all([post({ port }, { authorization: `Bearer ${TOKEN}` }, body), post({ socketPath: socket }, { authorization: `Bearer ${TOKEN}` }, body)]);
  expect(a.status).toBe(202);
  expect(b.status).toBe(202);
  expect(a.body.workflowId).toBe(expectedId);
  expect(b.body.workflowId).toBe(expectedId);
  const outcomes = [a, b].map((r) => (r.body.workflows as Array<{ outcome: string }>)[0]!.outcome).sort();
  expect(outcomes).toEqual(['existing', 'started']);

  const ck = await stack.ferry.result<CheckpointResult>(expectedId);
  expect(ck.pid).toBe(w.pid);
  expect(ck.deadline).toMatchObject({ met: true, outlook: 'ok', deadline });
  expect(ck.deadline!.marginMs).toBeGreaterThan(0);
  expect((await stack.store.readManifest(ck.checkpointId)).complete).toBe(true);
  expect(await triggerWorkflowsOf(host, w.pid, startTime)).toEqual([expectedId]);
  // The token never reaches the worker's log or the workflow history.
  expect(worker.stderr()).not.toContain(TOKEN);
  const history = JSON.stringify(await stack.ferry.client.workflow.getHandle(expectedId).fetchHistory());
  expect(history).not.toContain(TOKEN);

  await until(`pid ${w.pid} to be gone after the final dump`, () => w.state() === null);
  const restore = await stack.ferry.startRestore({ host, checkpointId: ck.checkpointId });
  const r = await stack.ferry.result<{ pid: number }>(restore.workflowId);
  expect(r.pid).toBe(w.pid);
  expect(await w.verify()).toMatchObject({ ok: true, bad: 0, pages: (MIB * 1024 * 1024) / 4096 });
  await worker.stop();
}, 240000);

test('preemption: an AWS spot notice from the metadata service is checkpointed before its time, once however often it is polled', async () => {
  const host = `it-tpre-${process.pid}`;
  const { w, pidFile, startTime } = await workloadWithPidFile('spot');
  const noticeTime = new Date(Math.floor(Date.now() / 1000) * 1000 + 120_000).toISOString().replace('.000Z', 'Z');
  let announce = false;
  const seen: string[] = [];
  const imdsToken = 'imds-' + process.pid;
  const imds = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.method === 'PUT' && req.url === '/latest/api/token' && req.headers['x-aws-ec2-metadata-token-ttl-seconds']) {
      res.end(imdsToken);
      return;
    }
    if (req.method === 'GET' && req.url === '/latest/meta-data/spot/instance-action') {
      if (req.headers['x-aws-ec2-metadata-token'] !== imdsToken) {
        res.writeHead(401).end();
        return;
      }
      if (!announce) {
        res.writeHead(404, { 'content-type': 'text/html' }).end('<?xml version="1.0"?><title>404 - Not Found</title>');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(JSON.stringify({ action: 'terminate', time: noticeTime }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => imds.listen(0, '127.0.0.1', resolve));
  try {
    const port = (imds.address() as { port: number }).port;
    // leaveRunning: the process stays, so every later poll of the same notice finds it again.
    const rules = writeRules('spot', [{ name: 'spot', target: { pidFile }, events: ['preemption'], action: { type: 'checkpoint' }, policy: { leaveRunning: true, finalReserveMs: 20000 } }]);
    const worker = await spawnWorker(stack, host, stackEnv(stack, { FERRY_TRIGGERS: rules, FERRY_PREEMPTION_PROVIDER: 'aws', FERRY_PREEMPTION_URL: `http://127.0.0.1:${port}`, FERRY_PREEMPTION_POLL_MS: '200' }));
    workers.push(worker);
    await until('the worker to poll the metadata service', () => seen.includes('GET /latest/meta-data/spot/instance-action'));
    expect(await triggerWorkflowsOf(host, w.pid, startTime)).toEqual([]);

    announce = true;
    const expectedId = triggerWorkflowId('spot', { host, pid: w.pid, startTime }, { event: 'preemption', id: `aws:terminate:${noticeTime}` });
    await until(`workflow ${expectedId} to be started by the notice`, () =>
      stack.ferry.client.workflow.getHandle(expectedId).describe().then(() => true, () => false),
    );
    const ck = await stack.ferry.result<CheckpointResult>(expectedId);
    await captureHistory(stack.ferry.client.workflow.getHandle(expectedId), 'checkpoint-deadline');
    expect(ck.deadline).toMatchObject({ met: true, deadline: new Date(noticeTime).toISOString() });
    expect(ck.deadline!.marginMs).toBeGreaterThan(0);
    expect(ck.deadline!.marginMs).toBeLessThanOrEqual(120_000);
    expect((await stack.store.readManifest(ck.checkpointId)).complete).toBe(true);
    expect(w.isRunning()).toBe(true);

    // The notice stands and is polled again: each poll finds the same workflow, none starts another.
    const polled = seen.length;
    await until('more polls of the standing notice', () => seen.length >= polled + 6 && worker.stderr().includes('already started for this event'));
    expect(await triggerWorkflowsOf(host, w.pid, startTime)).toEqual([expectedId]);
    await worker.stop();
  } finally {
    await new Promise<void>((resolve) => imds.close(() => resolve()));
  }
}, 240000);

test('shutdown: SIGTERM to a worker whose rule protects a live process stores its checkpoint before the worker exits', async () => {
  const host = `it-tsd-${process.pid}`;
  const { w, pidFile, startTime } = await workloadWithPidFile('guard');
  const rules = writeRules('guard', [{ name: 'guard', target: { pidFile }, events: ['shutdown'], action: { type: 'checkpoint' } }]);
  const worker = await spawnWorker(stack, host, stackEnv(stack, { FERRY_TRIGGERS: rules, FERRY_TRIGGER_SHUTDOWN_GRACE_MS: '60000' }));
  workers.push(worker);
  const workerStart = readProcStat(worker.pid)!.startTime;
  const expectedId = triggerWorkflowId('guard', { host, pid: w.pid, startTime }, { event: 'shutdown', id: `${readBootId()}:${worker.pid}:${workerStart}` });

  process.kill(worker.pid, 'SIGTERM');
  const code = await worker.exited;
  expect(code).toBe(0);
  // Checked only after the worker is gone: it must have waited for the checkpoint to be stored.
  const status = await stack.ferry.status(expectedId);
  expect(status.status).toBe('COMPLETED');
  const ck = status.result as CheckpointResult;
  expect(ck.deadline).toMatchObject({ met: true });
  expect((await stack.store.readManifest(ck.checkpointId)).complete).toBe(true);
  expect(worker.stderr()).toMatch(/shutdown: 1 of 1 checkpoint\(s\) stored; stopping the worker/);
  await until(`pid ${w.pid} to be gone after the final dump`, () => w.state() === null);
}, 240000);

test('memory-pressure: the process above its resident-memory limit is checkpointed once; the one below is not', async () => {
  const host = `it-tmem-${process.pid}`;
  const small = await workloadWithPidFile('small', 8);
  const big = await workloadWithPidFile('big', 64);
  const limit = 32 * 1024 * 1024;
  const rule = (name: string, pidFile: string) => ({ name, target: { pidFile }, events: ['memory-pressure'], action: { type: 'checkpoint' }, policy: { leaveRunning: true }, memory: { rssAboveBytes: limit } });
  // small first: each check goes through the rules in order, so it was judged before big fired.
  const rules = writeRules('mem', [rule('small', small.pidFile), rule('big', big.pidFile)]);
  const worker = await spawnWorker(stack, host, stackEnv(stack, { FERRY_TRIGGERS: rules, FERRY_MEMORY_POLL_MS: '200' }));
  workers.push(worker);
  const key = `big:rss:${big.w.pid}:${big.startTime}`;
  const expectedId = triggerWorkflowId('big', { host, pid: big.w.pid, startTime: big.startTime }, { event: 'memory-pressure', id: `${key}:episode-1` });
  await until(`workflow ${expectedId} to be started by the limit`, () => stack.ferry.client.workflow.getHandle(expectedId).describe().then(() => true, () => false));
  const ck = await stack.ferry.result<CheckpointResult>(expectedId);
  expect(ck.pid).toBe(big.w.pid);
  expect(ck.deadline).toBeUndefined();
  expect((await stack.store.readManifest(ck.checkpointId)).complete).toBe(true);
  expect(big.w.isRunning()).toBe(true);
  // Checked every 200 ms while the checkpoint ran (seconds), always above the limit: one episode, one workflow.
  const fires = (): number => worker.stderr().split('\n').filter((l) => l.includes('memory-pressure (') && l.includes('rule big')).length;
  expect(fires()).toBe(1);
  expect(await triggerWorkflowsOf(host, big.w.pid, big.startTime)).toEqual([expectedId]);
  expect(await triggerWorkflowsOf(host, small.w.pid, small.startTime)).toEqual([]);
  expect(worker.stderr()).not.toMatch(/rule small:/);
  await worker.stop();
}, 240000);

test('ferry triggers test RULE fires by hand: prints the workflow id, and the same --id again starts nothing new', async () => {
  const host = `it-tcli-${process.pid}`;
  const { w, pidFile, startTime } = await workloadWithPidFile('cli');
  const rules = writeRules('cli', [{ name: 'byhand', target: { pidFile }, events: ['request'], action: { type: 'checkpoint' }, policy: { leaveRunning: true } }]);
  const worker = await spawnWorker(stack, host);
  workers.push(worker);
  const env = stackEnv(stack, { FERRY_TRIGGERS: rules });
  const fire = async () => {
    const r = await ferryProcessWithEnv(env, 'triggers', 'test', 'byhand', '--host', host, '--id', 'drill-1', '--json').done;
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as { fired: Array<{ outcome: string; workflowId: string; pid: number }> };
  };
  const expectedId = triggerWorkflowId('byhand', { host, pid: w.pid, startTime }, { event: 'request', id: 'drill-1' });
  const first = await fire();
  expect(first.fired).toEqual([expect.objectContaining({ outcome: 'started', workflowId: expectedId, pid: w.pid })]);
  const second = await fire();
  expect(second.fired).toEqual([expect.objectContaining({ outcome: 'existing', workflowId: expectedId })]);
  const ck = await stack.ferry.result<CheckpointResult>(expectedId);
  expect((await stack.store.readManifest(ck.checkpointId)).complete).toBe(true);
  expect(w.isRunning()).toBe(true);
  expect(await triggerWorkflowsOf(host, w.pid, startTime)).toEqual([expectedId]);
  await worker.stop();
}, 240000);
