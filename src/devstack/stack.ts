/**
 * `ferry dev up | down | status | env` as a library: starts the Temporal dev server and MinIO in
 * their own sessions (they outlive the command), records them, waits until they answer, creates
 * the bucket; stops exactly what was recorded; reports what runs where.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import type { FerryConfig } from '../config/config';
import { createS3Client } from '../storage/s3-client';
import { COMPONENTS, componentSpecs, devPaths, minioEndpoint, type ComponentSpec } from './components';
import { loadOrCreateCredentials, redactSecrets, writePrivateFile, writeSharedCredentialsFile, type DevCredentials } from './credentials';
import {
  DevStackBinaryMissingError,
  DevStackPortInUseError,
  DevStackStartError,
  DevStackStopError,
  type ComponentName,
} from './errors';
import { findPortOwner, isPortFree } from './ports';
import { findOnPath, identifyProcess, isRecordedProcessAlive, stopRecordedProcess, type StopOutcome } from './process';
import { readState, stateFile, writeState, type ComponentRecord, type StackState } from './state';

export const DEFAULT_UP_TIMEOUT_MS = 90_000;
const POLL_MS = 250;

export interface ComponentUp {
  component: ComponentName;
  action: 'started' | 'already-running';
  pid: number;
  address: string;
  uiAddress: string;
  dataPath: string;
  logFile: string;
}

export interface UpResult {
  components: ComponentUp[];
  bucket: { name: string; created: boolean };
  /** Path only: the secrets inside never leave the file. */
  credentialsFile: string;
  credentialsProfile: string;
  elapsedMs: number;
}

export interface UpOptions {
  /** Bound on the whole wait for both components to answer. */
  timeoutMs?: number;
  /** Progress lines for people (never contain secrets). */
  progress?: (line: string) => void;
}

/** Keeps a child's environment to what it needs: the caller's secrets stay out of it. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR']) {
    if (process.env[name] !== undefined) env[name] = process.env[name];
  }
  return { ...env, ...extra };
}

async function logTail(file: string, credentials: DevCredentials | null, lines = 12): Promise<string> {
  try {
    const handle = await fs.open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 8192);
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, size - length);
      const text = buf.toString('utf8').split('\n').filter(Boolean).slice(-lines).join('\n');
      return redactSecrets(text, credentials);
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

interface Launched {
  spec: ComponentSpec;
  record: ComponentRecord;
  child: ChildProcess;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
}

async function launch(spec: ComponentSpec, binaryPath: string, cwd: string): Promise<Launched> {
  await fs.mkdir(path.dirname(spec.logFile), { recursive: true, mode: 0o700 });
  const log = await fs.open(spec.logFile, 'a', 0o600);
  let child: ChildProcess;
  try {
    await log.write(`--- ferry dev up ${new Date().toISOString()}: ${[binaryPath, ...spec.args].join(' ')}\n`);
    // detached: a session of its own, so the component outlives this command and `down` can
    // signal its whole process group.
    child = spawn(binaryPath, spec.args, { cwd, detached: true, stdio: ['ignore', log.fd, log.fd], env: childEnv(spec.env) });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  } finally {
    await log.close();
  }
  const launched: Launched = { spec, child, exit: null, record: undefined as unknown as ComponentRecord };
  child.once('exit', (code, signal) => {
    launched.exit = { code, signal };
  });
  child.unref();
  const identity = child.pid === undefined ? null : await identifyProcess(child.pid);
  if (!identity) {
    throw new DevStackStartError(spec.name, 'it exited right after starting', spec.logFile, await logTail(spec.logFile, null));
  }
  launched.record = {
    ...identity,
    component: spec.name,
    command: [binaryPath, ...spec.args],
    address: spec.address,
    uiAddress: spec.uiAddress,
    dataPath: spec.dataPath,
    logFile: spec.logFile,
    startedAt: new Date().toISOString(),
  };
  return launched;
}

async function waitUntilAnswering(
  spec: ComponentSpec,
  deadline: number,
  timeoutMs: number,
  isAlive: () => Promise<string | null>,
  credentials: DevCredentials | null,
): Promise<void> {
  for (;;) {
    const dead = await isAlive();
    if (dead) throw new DevStackStartError(spec.name, dead, spec.logFile, await logTail(spec.logFile, credentials));
    const remaining = deadline - Date.now();
    if (await spec.probe(Math.max(500, Math.min(2000, remaining)))) return;
    if (Date.now() >= deadline) {
      throw new DevStackStartError(
        spec.name,
        `it did not answer at ${spec.address} within ${Math.round(timeoutMs / 1000)} s`,
        spec.logFile,
        await logTail(spec.logFile, credentials),
      );
    }
    await sleep(POLL_MS);
  }
}

/** A configuration aimed at the dev MinIO with the dev credentials, whatever the user set. */
export function devS3Config(config: FerryConfig): FerryConfig {
  return { ...config, s3: { ...config.s3, endpoint: minioEndpoint(config), forcePathStyle: true, useDevCredentials: true } };
}

async function ensureBucket(config: FerryConfig, deadline: number, credentials: DevCredentials): Promise<{ name: string; created: boolean }> {
  const bucket = config.s3.bucket;
  const client = createS3Client(devS3Config(config));
  let last: unknown;
  try {
    // MinIO answers its liveness probe a moment before IAM is ready: retry until the deadline.
    for (;;) {
      try {
        await client.send(new HeadBucketCommand({ Bucket: bucket }));
        return { name: bucket, created: false };
      } catch (err) {
        last = err;
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if ((err as Error).name === 'NotFound' || status === 404) {
          try {
            await client.send(new CreateBucketCommand({ Bucket: bucket }));
            return { name: bucket, created: true };
          } catch (createErr) {
            if ((createErr as Error).name === 'BucketAlreadyOwnedByYou') return { name: bucket, created: false };
            last = createErr;
          }
        }
      }
      if (Date.now() >= deadline) break;
      await sleep(POLL_MS);
    }
  } finally {
    client.destroy();
  }
  const reason = redactSecrets(`${(last as Error)?.name ?? 'Error'}: ${(last as Error)?.message ?? String(last)}`, credentials);
  throw new DevStackStartError(
    'minio',
    `bucket ${bucket} could not be created (${reason}); if the MinIO data dir predates its credentials file, remove ${devPaths(config).minioData}`,
    path.join(devPaths(config).logsDir, 'minio.log'),
    '',
    { cause: last },
  );
}

/**
 * The dev stack's host policy: a root worker refuses to run without an explicit one, and the dev
 * stack is a developer's own machine, so its workers may checkpoint any process (images still
 * only under each worker's staging dir). Rewritten on every `up`, so it always matches this ferry.
 */
async function writeDevHostPolicy(file: string): Promise<void> {
  const policy = {
    version: 1,
    comment: 'Written by `ferry dev up` for the dev stack only: any process of this machine, images under the worker staging dirs. Real hosts need their own (docs/reliability.md).',
    processes: { uids: 'any' },
  };
  await writePrivateFile(file, JSON.stringify(policy, null, 2) + '\n');
}

/**
 * Starts whatever is not running yet and waits until everything answers. Idempotent: running
 * components are left alone. If anything fails, the components this call started are stopped
 * again and their records removed, so a failed `up` leaves nothing behind.
 */
export async function devUp(config: FerryConfig, options: UpOptions = {}): Promise<UpResult> {
  const t0 = Date.now();
  const progress = options.progress ?? (() => undefined);
  const timeoutMs = options.timeoutMs ?? DEFAULT_UP_TIMEOUT_MS;
  const { dev } = config;
  const paths = devPaths(config);
  await fs.mkdir(dev.dir, { recursive: true, mode: 0o700 });
  // Credentials live in here: keep it private even if something else created it first.
  await fs.chmod(dev.dir, 0o700);
  await fs.mkdir(paths.logsDir, { recursive: true, mode: 0o700 });

  const { credentials } = await loadOrCreateCredentials(paths.rootCredentialsFile);
  await writeSharedCredentialsFile(dev.credentialsFile, dev.credentialsProfile, credentials);
  await writeDevHostPolicy(dev.hostPolicyFile);
  const specs = componentSpecs(config, credentials);
  const state = await readState(dev.dir);

  // Preflight everything before starting anything: a port conflict on MinIO should not cost a
  // Temporal start and stop.
  const toStart: Array<{ spec: ComponentSpec; binaryPath: string }> = [];
  const running: ComponentRecord[] = [];
  for (const name of COMPONENTS) {
    const spec = specs[name];
    const record = state.components[name];
    if (record && (await isRecordedProcessAlive(record))) {
      running.push(record);
      continue;
    }
    const binaryPath = await findOnPath(spec.binary);
    if (!binaryPath) throw new DevStackBinaryMissingError(name, spec.binary);
    for (const port of spec.ports) {
      if (!(await isPortFree(port.host, port.port))) {
        throw new DevStackPortInUseError(name, `${port.host}:${port.port}`, port.setting, await findPortOwner(port.port));
      }
    }
    toStart.push({ spec, binaryPath });
  }

  const deadline = Date.now() + timeoutMs;
  const launched: Launched[] = [];
  try {
    for (const { spec, binaryPath } of toStart) {
      if (state.components[spec.name]) delete state.components[spec.name]; // stale record: its process is gone
      progress(`starting ${spec.name} on ${spec.address} (log ${spec.logFile})`);
      const l = await launch(spec, binaryPath, dev.dir);
      launched.push(l);
      state.components[spec.name] = l.record;
      await writeState(dev.dir, state);
    }
    await Promise.all([
      ...launched.map((l) =>
        waitUntilAnswering(
          l.spec,
          deadline,
          timeoutMs,
          async () => (l.exit ? `it exited (${l.exit.signal ?? `code ${l.exit.code}`})` : (await isRecordedProcessAlive(l.record)) ? null : 'it exited'),
          credentials,
        ),
      ),
      ...running.map((r) =>
        waitUntilAnswering(
          specs[r.component],
          deadline,
          timeoutMs,
          async () => ((await isRecordedProcessAlive(r)) ? null : 'it exited'),
          credentials,
        ),
      ),
    ]);
    progress(`waiting for bucket ${config.s3.bucket}`);
    const bucket = await ensureBucket(config, deadline, credentials);
    const components: ComponentUp[] = COMPONENTS.map((name) => {
      const record = state.components[name] as ComponentRecord;
      return {
        component: name,
        action: launched.some((l) => l.spec.name === name) ? 'started' : 'already-running',
        pid: record.pid,
        address: record.address,
        uiAddress: record.uiAddress,
        dataPath: record.dataPath,
        logFile: record.logFile,
      };
    });
    return {
      components,
      bucket,
      credentialsFile: dev.credentialsFile,
      credentialsProfile: dev.credentialsProfile,
      elapsedMs: Date.now() - t0,
    };
  } catch (err) {
    for (const l of launched.reverse()) {
      await stopRecordedProcess(l.record);
      if (!(await isRecordedProcessAlive(l.record))) delete state.components[l.spec.name];
    }
    await writeState(dev.dir, state);
    throw err;
  }
}

export interface ComponentDown {
  component: ComponentName;
  pid: number;
  /** 'not-running': the record was stale (process already gone, or the pid now belongs to another process). */
  outcome: StopOutcome;
}

export interface DownResult {
  components: ComponentDown[];
}

/** Stops exactly the processes `up` recorded (identity-checked) and removes their records. */
export async function devDown(config: FerryConfig, options: { graceMs?: number } = {}): Promise<DownResult> {
  const { dev } = config;
  const state = await readState(dev.dir);
  const result: ComponentDown[] = [];
  for (const name of [...COMPONENTS].reverse()) {
    const record = state.components[name];
    if (!record) continue;
    const outcome = await stopRecordedProcess(record, options.graceMs);
    if (await isRecordedProcessAlive(record)) throw new DevStackStopError(name, record.pid);
    delete state.components[name];
    await writeState(dev.dir, state);
    result.push({ component: name, pid: record.pid, outcome });
  }
  return { components: result };
}

export interface ComponentStatus {
  component: ComponentName;
  state: 'running' | 'stopped';
  /** Whether it answered a request just now (only probed while running). */
  answering: boolean;
  pid: number | null;
  address: string;
  uiAddress: string;
  dataPath: string;
  logFile: string;
  /** A record whose process is gone (crashed, killed, rebooted). */
  staleRecord: boolean;
}

export interface StackStatus {
  /** True when every component runs and answers. */
  up: boolean;
  stateFile: string;
  components: ComponentStatus[];
  bucket: string;
  credentialsFile: string;
}

/** Reports what runs where; read-only. */
export async function devStatus(config: FerryConfig, options: { probeTimeoutMs?: number } = {}): Promise<StackStatus> {
  const state: StackState = await readState(config.dev.dir);
  const specs = componentSpecs(config, null);
  const components: ComponentStatus[] = [];
  for (const name of COMPONENTS) {
    const spec = specs[name];
    const record = state.components[name];
    const alive = record ? await isRecordedProcessAlive(record) : false;
    const answering = alive ? await spec.probe(options.probeTimeoutMs ?? 2000) : false;
    components.push({
      component: name,
      state: alive ? 'running' : 'stopped',
      answering,
      pid: alive && record ? record.pid : null,
      address: record?.address ?? spec.address,
      uiAddress: record?.uiAddress ?? spec.uiAddress,
      dataPath: record?.dataPath ?? spec.dataPath,
      logFile: record?.logFile ?? spec.logFile,
      staleRecord: Boolean(record) && !alive,
    });
  }
  return {
    up: components.every((c) => c.state === 'running' && c.answering),
    stateFile: stateFile(config.dev.dir),
    components,
    bucket: config.s3.bucket,
    credentialsFile: config.dev.credentialsFile,
  };
}

export interface EnvVar {
  name: string;
  value: string;
}

/** MinIO takes any region; the dev stack's shell variables name one so every AWS tool agrees. */
const DEV_REGION = 'us-east-1';

/**
 * The variables a shell needs to use the dev stack: ferry's own settings and, for S3, where the
 * credentials are (a file and a profile), never the credentials themselves.
 */
export function devEnv(config: FerryConfig): EnvVar[] {
  const specs = componentSpecs(config, null);
  return [
    { name: 'FERRY_STATE_DIR', value: config.stateDir },
    { name: 'FERRY_TEMPORAL_ADDRESS', value: specs.temporal.address },
    { name: 'FERRY_TEMPORAL_NAMESPACE', value: config.temporal.namespace },
    { name: 'FERRY_TEMPORAL_WEB_URL', value: specs.temporal.uiAddress },
    // Temporal's own names, so that the `temporal` CLI (and any SDK's envconfig) reaches the same server.
    { name: 'TEMPORAL_ADDRESS', value: specs.temporal.address },
    { name: 'TEMPORAL_NAMESPACE', value: config.temporal.namespace },
    { name: 'FERRY_S3_ENDPOINT', value: specs.minio.address },
    { name: 'FERRY_S3_REGION', value: config.s3.region ?? DEV_REGION },
    { name: 'FERRY_S3_BUCKET', value: config.s3.bucket },
    { name: 'FERRY_S3_PATH_STYLE', value: 'true' },
    // The dev stack's permissive policy (written by `ferry dev up`) for workers started from this shell.
    { name: 'FERRY_HOST_POLICY', value: config.dev.hostPolicyFile },
    { name: 'AWS_SHARED_CREDENTIALS_FILE', value: config.dev.credentialsFile },
    { name: 'AWS_PROFILE', value: config.dev.credentialsProfile },
    { name: 'AWS_REGION', value: config.s3.region ?? DEV_REGION },
    // Lets the AWS CLI and other SDKs reach MinIO without flags.
    { name: 'AWS_ENDPOINT_URL_S3', value: specs.minio.address },
  ];
}

/** POSIX-shell single quoting. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

export function formatExports(vars: EnvVar[]): string {
  return vars.map((v) => `export ${v.name}=${shellQuote(v.value)}`).join('\n');
}
