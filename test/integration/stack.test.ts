/**
 * The dev stack is real: a Temporal dev server runs a workflow on a real worker, MinIO stores
 * and returns an object through ferry's own S3 client, and CRIU's `criu check` passes through
 * ferry's own code. Every component is required: a missing one fails this test, never skips it.
 *
 * The test runner (scripts/run-tests.sh) normally starts the stack; `up` here is then a no-op.
 * If this test had to start something itself, it stops it again at the end.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Command } from 'commander';
import { registerDevCommands } from '../../src/cli/dev-commands';
import { loadConfig, type FerryConfig } from '../../src/config/config';
import { compareVersions, MIN_CRIU_VERSION, runCriuCheck } from '../../src/criu/binary';
import { devPaths } from '../../src/devstack/components';
import type { DevCredentials } from '../../src/devstack/credentials';
import { devDown, devUp, type UpResult } from '../../src/devstack/stack';
import { createS3Client } from '../../src/storage/s3-client';
import type { SmokeActivities } from '../fixtures/workflows/stack-smoke';

jest.setTimeout(240_000);

let config: FerryConfig;
let up: UpResult;
let secrets: DevCredentials;

beforeAll(async () => {
  config = loadConfig();
  up = await devUp(config, { timeoutMs: 120_000 });
  secrets = JSON.parse(await fs.readFile(devPaths(config).rootCredentialsFile, 'utf8')) as DevCredentials;
});

afterAll(async () => {
  if (up?.components.some((c) => c.action === 'started')) await devDown(config);
});

/** Runs one `ferry dev ...` command in-process and returns what it printed on stdout. */
async function ferryDev(...args: string[]): Promise<{ stdout: string; exitCode: number }> {
  const program = new Command('ferry').exitOverride();
  registerDevCommands(program);
  let stdout = '';
  let exitCode = 0;
  const write = jest.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
    stdout += String(chunk);
    const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    cb?.();
    return true;
  }) as typeof process.stdout.write);
  const exit = jest.spyOn(process, 'exit').mockImplementation(((code?: number) => {
    exitCode = code ?? 0;
    throw new Error(`exit ${code}`);
  }) as typeof process.exit);
  try {
    await program.parseAsync(['node', 'ferry', 'dev', ...args]);
  } catch (err) {
    if (!(err instanceof Error && err.message.startsWith('exit '))) throw err;
  } finally {
    write.mockRestore();
    exit.mockRestore();
  }
  return { stdout, exitCode };
}

function expectNoSecrets(text: string): void {
  expect(text).not.toContain(secrets.secretAccessKey);
  expect(text).not.toContain(secrets.accessKeyId);
}

describe('dev stack', () => {
  it('runs both components, loopback only', () => {
    expect(up.components.map((c) => c.component)).toEqual(['temporal', 'minio']);
    for (const c of up.components) {
      expect(c.pid).toBeGreaterThan(0);
      expect(c.address).toMatch(/^(http:\/\/)?127\.0\.0\.1:\d+$/);
    }
    expect(up.bucket.name).toBe(config.s3.bucket);
  });

  it('runs a workflow on a real worker against the dev server', async () => {
    const taskQueue = `stack-smoke-${randomUUID()}`;
    const workerConnection = await NativeConnection.connect({ address: config.temporal.address });
    const clientConnection = await Connection.connect({ address: config.temporal.address });
    try {
      const activities: SmokeActivities = {
        describeWorker: async (greeting) => ({ greeting, workerPid: process.pid }),
      };
      const worker = await Worker.create({
        connection: workerConnection,
        namespace: config.temporal.namespace,
        taskQueue,
        workflowsPath: require.resolve('../fixtures/workflows/stack-smoke'),
        activities,
      });
      const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace });
      const workflowId = `stack-smoke-${randomUUID()}`;
      const result = await worker.runUntil(
        client.workflow.execute('stackSmoke', { taskQueue, workflowId, args: ['ferry'], workflowExecutionTimeout: '2 minutes' }),
      );
      expect(result).toEqual({ greeting: 'hello, ferry', workerPid: process.pid });
      const described = await client.workflow.getHandle(workflowId).describe();
      expect(described.status.name).toBe('COMPLETED');
    } finally {
      await clientConnection.close();
      await workerConnection.close();
    }
  });

  it('writes an object to MinIO and reads it back through createS3Client', async () => {
    const s3 = createS3Client(config);
    const key = `${config.s3.prefix}/test/stack-${randomUUID()}`;
    const body = randomBytes(256 * 1024);
    try {
      await s3.send(new HeadBucketCommand({ Bucket: config.s3.bucket }));
      await s3.send(new PutObjectCommand({ Bucket: config.s3.bucket, Key: key, Body: body }));
      const got = await s3.send(new GetObjectCommand({ Bucket: config.s3.bucket, Key: key }));
      const bytes = Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
      expect(bytes.equals(body)).toBe(true);
    } finally {
      await s3.send(new DeleteObjectCommand({ Bucket: config.s3.bucket, Key: key })).catch(() => undefined);
      s3.destroy();
    }
  });

  it('passes `criu check` through ferry\'s own code', async () => {
    const check = await runCriuCheck(config.criuBinary);
    expect(compareVersions(check.binary.version, MIN_CRIU_VERSION)).toBeGreaterThanOrEqual(0);
    expect(check.errors).toEqual([]);
    expect(check).toMatchObject({ ok: true, exitCode: 0 });
    expect(check.summary).toMatch(/^Looks good/);
  });
});

describe('ferry dev status / env output', () => {
  it('status --json: both components running and answering, exit 0, no secret', async () => {
    const { stdout, exitCode } = await ferryDev('status', '--json');
    expect(exitCode).toBe(0);
    const status = JSON.parse(stdout) as { up: boolean; components: Array<{ component: string; state: string; answering: boolean; pid: number }> };
    expect(status.up).toBe(true);
    expect(status.components.map((c) => [c.component, c.state, c.answering, c.pid])).toEqual(
      up.components.map((c) => [c.component, 'running', true, c.pid]),
    );
    expectNoSecrets(stdout);
  });

  it('status (text) names pids and addresses, no secret', async () => {
    const { stdout, exitCode } = await ferryDev('status');
    expect(exitCode).toBe(0);
    for (const c of up.components) {
      expect(stdout).toContain(`pid ${c.pid}`);
      expect(stdout).toContain(c.address);
    }
    expectNoSecrets(stdout);
  });

  it('env points at the credentials file, never prints the credentials', async () => {
    const text = await ferryDev('env');
    expect(text.stdout).toContain(`export AWS_SHARED_CREDENTIALS_FILE=${config.dev.credentialsFile}`);
    expect(text.stdout).toContain(`export FERRY_TEMPORAL_ADDRESS=${config.temporal.address}`);
    expectNoSecrets(text.stdout);
    const json = await ferryDev('env', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ AWS_PROFILE: config.dev.credentialsProfile, FERRY_S3_BUCKET: config.s3.bucket });
    expectNoSecrets(json.stdout);
  });

  it('keeps the secrets out of the components\' logs and in 0600 files', async () => {
    for (const c of up.components) expectNoSecrets(await fs.readFile(c.logFile, 'utf8'));
    for (const file of [devPaths(config).rootCredentialsFile, config.dev.credentialsFile]) {
      expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    }
    expect((await fs.stat(path.dirname(config.dev.credentialsFile))).mode & 0o077).toBe(0);
  });
});
