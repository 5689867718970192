/**
 * Real-stack harness for the pipeline tests: the running dev stack's Temporal server and MinIO
 * (`ferry dev up`), the real CRIU driver and layer store, and in-process ferry workers for
 * simulated host names, each with its own staging dir. A task-queue prefix per test file keeps
 * these workers apart from any `ferry worker` that runs on the same server. A missing component
 * fails the tests (no skipping).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import type { ActivityDeps } from '../../src/activities/deps';
import { FerryClient } from '../../src/client';
import { loadConfig, type FerryConfig } from '../../src/config/config';
import { openLayerStore, type LayerStore } from '../../src/storage';
import { createFerryWorkers, createHostDependencies } from '../../src/worker';
import { installTestRuntime, workflowBundle } from './temporal';
import { until } from './until';
import { isError } from '../../src/core';
import { HostNotServedError } from '../../src/client/errors';

export interface Stack {
  config: FerryConfig;
  prefix: string;
  stagingRoot: string;
  nativeConnection: NativeConnection;
  connection: Connection;
  ferry: FerryClient;
  store: LayerStore;
  close(): Promise<void>;
}

/** Connects to the dev stack; throws (failing the test) when Temporal or MinIO is not there. */
export async function connectStack(tag: string): Promise<Stack> {
  installTestRuntime();
  const stagingRoot = fs.mkdtempSync(path.join(os.tmpdir(), `ferry-it-${tag}-`));
  const config: FerryConfig = { ...loadConfig(), stagingDir: stagingRoot };
  const prefix = `it-${tag}-${process.pid}`;
  config.temporal = { ...config.temporal, taskQueuePrefix: prefix };
  const address = config.temporal.address;
  const nativeConnection = await NativeConnection.connect({ address }).catch((err: unknown) => {
    throw new Error(`the Temporal dev server is not reachable at ${address} (start it with \`ferry dev up\`): ${String(err)}`);
  });
  const connection = await Connection.connect({ address, connectTimeout: '5s' });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const ferry = new FerryClient({ client, taskQueuePrefix: prefix, webUrl: config.temporal.webUrl });
  const store = openLayerStore(config);
  // Fails here, clearly, when MinIO or the bucket is missing.
  await store.list();
  return {
    config,
    prefix,
    stagingRoot,
    nativeConnection,
    connection,
    ferry,
    store,
    async close() {
      // Remove the checkpoints this test process stored (ids carry the hosts' names and our pid).
      for (const c of await store.list().catch(() => [])) {
        if (c.checkpointId.startsWith('it-') && c.checkpointId.includes(`-${process.pid}-`)) await store.delete(c.checkpointId).catch(() => undefined);
      }
      await connection.close();
      await nativeConnection.close();
      fs.rmSync(stagingRoot, { recursive: true, force: true });
    },
  };
}

/** The real dependencies of one simulated host (its staging dir under the stack's root). */
export function hostDeps(stack: Stack, host: string): ActivityDeps {
  const deps = createHostDependencies(stack.config, host);
  fs.mkdirSync(deps.stagingDir, { recursive: true });
  return deps;
}

export interface RunningWorkers {
  stop(): Promise<void>;
}

/** Starts the workflow worker and one activity worker per host; stop() shuts them all down. */
export async function startWorkers(stack: Stack, hosts: Array<{ host: string; deps: ActivityDeps }>): Promise<RunningWorkers> {
  const workflowBundleReady = await workflowBundle();
  const common = { connection: stack.nativeConnection, namespace: stack.config.temporal.namespace, taskQueuePrefix: stack.prefix };
  const workers: Worker[] = [...(await createFerryWorkers({ ...common, workflowBundle: workflowBundleReady }))];
  for (const h of hosts) {
    workers.push(...(await createFerryWorkers({ ...common, host: h.host, activities: createActivities(h.deps), workflows: false })));
  }
  const runs = workers.map((w) => w.run());
  const stop = async () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(runs);
  };
  try {
    // run() returns before the first poll reaches the server; the CLI refuses a host nobody polls for.
    for (const h of hosts) {
      await until(`a worker polling host ${h.host}'s task queue`, () =>
        stack.ferry.assertHostServed(h.host).then(
          () => true,
          (err: unknown) => {
            if (isError(err, HostNotServedError)) return false;
            throw err;
          },
        ),
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}

export function stagingLeftovers(deps: ActivityDeps): string[] {
  return ['checkpoints', 'downloads'].flatMap((d) => {
    const dir = path.join(deps.stagingDir, d);
    return fs.existsSync(dir) ? fs.readdirSync(dir).map((e) => `${d}/${e}`) : [];
  });
}

/** A `ferry worker --host` run as its own process (bin/ferry.js; `npm run build` first), to be killed for real. */
export interface WorkerProcess {
  readonly pid: number;
  /** Everything the worker wrote on stderr so far. */
  stderr(): string;
  /** SIGKILL, then wait until it is gone. */
  kill(): Promise<void>;
  /** SIGTERM (a clean stop), then wait until it is gone; SIGKILL after 20 s. */
  stop(): Promise<void>;
  exited: Promise<number | null>;
}

export const FERRY_BIN = path.resolve(__dirname, '..', '..', 'bin', 'ferry.js');

/** The environment that points a CLI or worker process at this stack (prefix, staging root). */
export function stackEnv(stack: Stack, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FERRY_TASK_QUEUE_PREFIX: stack.prefix,
    FERRY_STAGING_DIR: stack.stagingRoot,
    FERRY_TEMPORAL_ADDRESS: stack.config.temporal.address,
    ...extra,
  };
  delete env.FERRY_DEBUG;
  // A root worker needs a host policy: the dev stack's permissive one (written by `ferry dev up`),
  // also when the test points the worker at a store of its own.
  if (!('FERRY_HOST_POLICY' in extra)) env.FERRY_HOST_POLICY = stack.config.dev.hostPolicyFile;
  return env;
}

/** Starts `node bin/ferry.js worker --host <host> [extraArgs]` and waits until it says it is ready. */
export async function spawnWorker(stack: Stack, host: string, env: NodeJS.ProcessEnv = stackEnv(stack), extraArgs: string[] = []): Promise<WorkerProcess> {
  if (!fs.existsSync(path.resolve(__dirname, '..', '..', 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const child = spawn(process.execPath, [FERRY_BIN, 'worker', '--host', host, ...extraArgs], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  await until(`worker ${host} to be ready (stderr: ${err.slice(-300)})`, () => {
    if (gone) throw new Error(`worker ${host} exited before it was ready: ${err.slice(-1000)}`);
    return err.includes('ready:');
  }, 60000);
  return {
    pid: child.pid!,
    stderr: () => err,
    exited,
    async kill() {
      if (!gone) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (gone) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20000);
      await exited;
      clearTimeout(t);
    },
  };
}
