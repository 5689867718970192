/**
 * Secrets never reach workflow history: a real checkpoint and restore-checkpoint run with client-side
 * encryption on and the dev stack's S3 credentials in use, then both histories are read back from
 * the Temporal server and searched — raw, and with every payload decoded — for the encryption key
 * (hex and base64) and the S3 secret key; then the same for runs that failed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { CheckpointResult } from '../../src/workflows/types';
import { Workload } from '../fixtures/workload/workload';
import { connectStack, hostDeps, startWorkers, type RunningWorkers, type Stack } from '../helpers/pipeline-harness';

const KEY = crypto.randomBytes(32);
const HOST = `it-sec-${process.pid}`;

let stack: Stack;
let workers: RunningWorkers;
let workload: Workload | undefined;
const savedKey = process.env.FERRY_ENCRYPTION_KEY;

beforeAll(async () => {
  process.env.FERRY_ENCRYPTION_KEY = KEY.toString('hex');
  stack = await connectStack('sec');
  workers = await startWorkers(stack, [{ host: HOST, deps: hostDeps(stack, HOST) }]);
}, 180000);

afterAll(async () => {
  await workload?.stop().catch(() => undefined);
  await workers?.stop();
  await stack?.close();
  if (savedKey === undefined) delete process.env.FERRY_ENCRYPTION_KEY;
  else process.env.FERRY_ENCRYPTION_KEY = savedKey;
});

/** The S3 secret the workers used: from the dev stack's credentials file, or the environment. */
function s3Secret(): string {
  if (process.env.AWS_SECRET_ACCESS_KEY) return process.env.AWS_SECRET_ACCESS_KEY;
  const ini = fs.readFileSync(stack.config.dev.credentialsFile, 'utf8');
  const m = /aws_secret_access_key\s*=\s*(\S+)/.exec(ini);
  if (!m) throw new Error(`no aws_secret_access_key in ${stack.config.dev.credentialsFile}`);
  return m[1]!;
}

/** Every string in the history, plus the decoded form of each base64 payload among them. */
function historyTexts(json: string): string[] {
  const texts = [json];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      if (v.length >= 8 && /^[A-Za-z0-9+/]+={0,2}$/.test(v)) texts.push(Buffer.from(v, 'base64').toString('utf8'));
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(JSON.parse(json));
  return texts;
}

test('no credential or key in the histories of an encrypted checkpoint and its restore', async () => {
  workload = await Workload.start({ mib: 16, dirtyPermille: 10, intervalMs: 100 });
  const handle = await stack.ferry.startCheckpoint({ host: HOST, pid: workload.pid });
  const ck: CheckpointResult = await stack.ferry.result(handle.workflowId);
  // The key was really in use: every stored layer is encrypted under it.
  const manifest = await stack.store.readManifest(ck.checkpointId);
  expect(manifest.layers.length).toBeGreaterThan(0);
  for (const layer of manifest.layers) expect(layer.encryption?.keyId).toMatch(/^[0-9a-f]{16}$/);

  const rHandle = await stack.ferry.startRestore({ host: HOST, checkpointId: ck.checkpointId });
  const restored = await stack.ferry.result<{ pid: number }>(rHandle.workflowId);
  expect(restored.pid).toBe(workload.pid);
  expect((await workload.verify()).ok).toBe(true);

  const secrets = [KEY.toString('hex'), KEY.toString('base64'), KEY.toString('base64url'), s3Secret()];
  for (const h of [handle, rHandle]) {
    const texts = historyTexts(historyToJSON(await h.fetchHistory()));
    // The search would find the result's own checkpoint id: proof that payloads were decoded.
    expect(texts.some((t) => t.includes(ck.checkpointId))).toBe(true);
    for (const secret of secrets) {
      expect(texts.filter((t) => t.includes(secret))).toEqual([]);
    }
  }
}, 240000);

test('no credential or key in the histories of failed runs, failure messages included', async () => {
  // A checkpoint of a process that is gone, and a restore of a checkpoint that does not exist: each
  // fails in a different layer (CRIU's identity check, the store's manifest read).
  const gone = await Workload.start({ mib: 4, dirtyPermille: 1, intervalMs: 1000 });
  const pid = gone.pid;
  await gone.stop();
  const failed = [
    await stack.ferry.startCheckpoint({ host: HOST, pid }),
    await stack.ferry.startRestore({ host: HOST, checkpointId: `missing-${process.pid}` }),
  ];
  const secrets = [KEY.toString('hex'), KEY.toString('base64'), KEY.toString('base64url'), s3Secret()];
  for (const h of failed) {
    const failureType = await stack.ferry.result(h.workflowId).then(
      () => 'completed',
      (e: unknown) => (e as { failureType?: string }).failureType ?? 'no failure type',
    );
    expect(['NoSuchProcess', 'CheckpointNotFound']).toContain(failureType);
    const texts = historyTexts(historyToJSON(await h.fetchHistory()));
    // The failure is in the history: the search covers it.
    expect(texts.some((t) => t.includes(failureType))).toBe(true);
    for (const secret of secrets) expect(texts.filter((t) => t.includes(secret))).toEqual([]);
  }
}, 240000);
