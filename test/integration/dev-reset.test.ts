/**
 * `ferry dev reset` on a dev stack of the test's own (`devUp` with its own state dir and free
 * ports, so the machine's shared dev stack is never touched): it removes every object in the
 * stack's bucket and every schedule in its namespace, prints what it removed, leaves the stack
 * running, and refuses when the configuration points anywhere else.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { FerryClient } from '../../src/client';
import { loadConfig, type FerryConfig } from '../../src/config/config';
import { devDown, devS3Config, devStatus, devUp } from '../../src/devstack/stack';
import type { ResetResult } from '../../src/devstack/reset';
import { createS3Client } from '../../src/storage/s3-client';
import { ferryInProcess } from '../helpers/ferry-cli';
import { freePort } from '../helpers/ports';
import { installTestRuntime } from '../helpers/temporal';

jest.setTimeout(240_000);

let work: string;
let config: FerryConfig;
const savedEnv = { ...process.env };

beforeAll(async () => {
  installTestRuntime();
  work = mkdtempSync(path.join(os.tmpdir(), 'ferry-dev-reset-'));
  const [temporalPort, temporalUiPort, minioPort, minioConsolePort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  process.env = {
    PATH: savedEnv.PATH,
    HOME: work,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    FERRY_STATE_DIR: path.join(work, 'state'),
    FERRY_DEV_TEMPORAL_PORT: String(temporalPort),
    FERRY_DEV_TEMPORAL_UI_PORT: String(temporalUiPort),
    FERRY_DEV_MINIO_PORT: String(minioPort),
    FERRY_DEV_MINIO_CONSOLE_PORT: String(minioConsolePort),
  };
  config = loadConfig();
  await devUp(config, { timeoutMs: 120_000 });
});

afterAll(async () => {
  if (config) await devDown(config);
  process.env = savedEnv;
  if (work) rmSync(work, { recursive: true, force: true });
});

async function bucketKeys(): Promise<string[]> {
  const client = createS3Client(devS3Config(config));
  try {
    const r = await client.send(new ListObjectsV2Command({ Bucket: config.s3.bucket }));
    return (r.Contents ?? []).map((o) => o.Key!).sort();
  } finally {
    client.destroy();
  }
}

it('removes the stack\'s objects and schedules, says which, and leaves the stack running', async () => {
  const client = createS3Client(devS3Config(config));
  try {
    for (const key of ['ferry/checkpoints/demo-1/manifest.json', 'ferry/blobs/ab/abcdef', 'elsewhere/note.txt']) {
      await client.send(new PutObjectCommand({ Bucket: config.s3.bucket, Key: key, Body: 'x' }));
    }
  } finally {
    client.destroy();
  }
  const ferry = await FerryClient.connect(config);
  try {
    await ferry.createWarmSchedule({ scheduleId: 'reset-me', cron: '0 2 1 1 *', input: { host: 'dev-host', pid: 4242 } });
    await ferry.createWarmSchedule({ scheduleId: 'and-me', cron: '0 3 1 1 *', input: { host: 'dev-host', pid: 4343 } });
  } finally {
    await ferry.close();
  }
  expect(await bucketKeys()).toHaveLength(3);

  const r = await ferryInProcess('dev', 'reset', '--json');
  expect(r.code).toBe(0);
  const result = JSON.parse(r.stdout) as ResetResult;
  expect(result).toEqual({ bucket: config.s3.bucket, objectsDeleted: 3, uploadsAborted: 0, namespace: 'default', schedulesDeleted: ['and-me', 'reset-me'] });
  expect(await bucketKeys()).toEqual([]);
  const after = await FerryClient.connect(config);
  try {
    await expect(after.describeSchedule('reset-me')).rejects.toMatchObject({ name: 'NoSuchScheduleError' });
  } finally {
    await after.close();
  }
  expect((await devStatus(config)).up).toBe(true);

  const text = await ferryInProcess('dev', 'reset');
  expect(text.stdout).toMatch(/deleted 0 object\(s\)/);
  expect(text.stdout).toMatch(/the dev stack is still running/);
});

it('refuses when the store or Temporal configured is not the dev stack\'s own, and removes nothing', async () => {
  const client = createS3Client(devS3Config(config));
  try {
    await client.send(new PutObjectCommand({ Bucket: config.s3.bucket, Key: 'ferry/checkpoints/keep/manifest.json', Body: 'x' }));
  } finally {
    client.destroy();
  }
  process.env.FERRY_S3_ENDPOINT = 'http://127.0.0.1:1';
  const s3 = await ferryInProcess('dev', 'reset');
  delete process.env.FERRY_S3_ENDPOINT;
  expect(s3.code).not.toBe(0);
  expect(s3.stderr).toMatch(/refusing to reset: FERRY_S3_ENDPOINT points at http:\/\/127\.0\.0\.1:1, not the dev stack's own http:\/\/127\.0\.0\.1:\d+/);

  process.env.FERRY_TEMPORAL_ADDRESS = 'temporal.example.com:7233';
  const temporal = await ferryInProcess('dev', 'reset');
  delete process.env.FERRY_TEMPORAL_ADDRESS;
  expect(temporal.stderr).toMatch(/refusing to reset: FERRY_TEMPORAL_ADDRESS points at temporal\.example\.com:7233/);
  expect(await bucketKeys()).toEqual(['ferry/checkpoints/keep/manifest.json']);
});
