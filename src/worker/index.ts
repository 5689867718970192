/**
 * Process wiring of `ferry worker`: one connection, the workflow worker on the shared queue
 * `<prefix>-workflows`, and this host's activity worker on `<prefix>-host-<host>`.
 * Activities come from a factory with injected dependencies, so tests run the same wiring with fakes.
 */
import { failureKind } from '../core/ferry-error';
import { chmod, mkdir } from 'node:fs/promises';
import { NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createActivities, type FerryActivities } from '../activities';
import type { ActivityDeps } from '../activities/deps';
import { STAGING_DIR_MODE } from '../activities/staging';
import { unencryptedStoreCheck, type FerryConfig } from '../config/config';
import { hostTaskQueue, isValidHostName, workflowTaskQueue } from '../core';
import { createHostDependencies } from './dependencies';
import { connectFailureMessage, diagnoseConnection } from '../client/connect-diagnosis';

export { createHostDependencies, hostStagingDir } from './dependencies';

export interface FerryWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueuePrefix: string;
  /** Host whose activities this worker runs; omit to run workflow code only. */
  host?: string;
  /** Activity implementations for `host` (createActivities(deps)); required with `host`. */
  activities?: FerryActivities;
  /** Run the workflow worker too (default true). */
  workflows?: boolean;
  /** A prebuilt bundle (tests bundle once); default: bundle src/workflows at start. */
  workflowBundle?: WorkflowBundle;
}

export class WorkerSetupError extends failureKind('worker-setup-failed', { retryable: false }) {
}


export function workflowSource(bundle?: WorkflowBundle): { workflowBundle: WorkflowBundle } | { workflowsPath: string } {
  return bundle ? { workflowBundle: bundle } : { workflowsPath: require.resolve('../workflows') };
}

/** Creates (does not run) the workers; run them with runWorkers or Worker.runUntil. */
export async function createFerryWorkers(opts: FerryWorkerOptions): Promise<Worker[]> {
  const workers: Worker[] = [];
  if (opts.workflows !== false) {
    workers.push(
      await Worker.create({
        connection: opts.connection,
        namespace: opts.namespace,
        taskQueue: workflowTaskQueue(opts.taskQueuePrefix),
        ...workflowSource(opts.workflowBundle),
      }),
    );
  }
  if (opts.host !== undefined) {
    if (!isValidHostName(opts.host)) {
      throw new WorkerSetupError(`host name ${JSON.stringify(opts.host)} is not usable as a task queue name: use letters, digits, . _ -`);
    }
    if (!opts.activities) throw new WorkerSetupError(`no activities given for host ${opts.host}`);
    workers.push(
      await Worker.create({
        connection: opts.connection,
        namespace: opts.namespace,
        taskQueue: hostTaskQueue(opts.taskQueuePrefix, opts.host),
        activities: opts.activities,
        // CRIU steps are heavy on a small host: a few at a time is plenty.
        maxConcurrentActivityTaskExecutions: 4,
      }),
    );
  }
  return workers;
}

/** Runs every worker until one stops (shutdown signal or failure), then shuts the others down. */
export async function runWorkers(workers: Worker[]): Promise<void> {
  const runs = workers.map((w) => w.run());
  try {
    await Promise.race(runs);
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(runs);
  }
  await Promise.all(runs);
}

export interface RunFerryWorkerOptions {
  config: FerryConfig;
  host: string;
  /** Run the workflow code (shared queue); default true. */
  workflows?: boolean;
  /** Run `host`'s activities (its own queue); default true. */
  activities?: boolean;
  /** Replace the real dependencies (tests). */
  deps?: ActivityDeps;
  /** Called once the workers exist; a queue is absent when that half does not run here. */
  onReady?: (info: { workflowQueue?: string; hostQueue?: string; stagingDir?: string; directAddress?: string }) => void;
  /** Told at once about a setting that works but is risky (an unencrypted remote store). */
  onWarning?: (message: string) => void;
}

/** `ferry worker`: connects, wires the real dependencies, and runs until SIGINT/SIGTERM. */
export async function runFerryWorker(opts: RunFerryWorkerOptions): Promise<void> {
  const { config, host } = opts;
  const runWorkflows = opts.workflows !== false;
  const runActivities = opts.activities !== false;
  if (!runWorkflows && !runActivities) throw new WorkerSetupError('a worker must run workflow code, activities, or both');
  const unencrypted = runActivities ? unencryptedStoreCheck(config) : null;
  if (unencrypted && 'refuse' in unencrypted) throw new WorkerSetupError(unencrypted.refuse);
  if (unencrypted) opts.onWarning?.(unencrypted.warn);
  const deps = runActivities ? (opts.deps ?? createHostDependencies(config, host)) : undefined;
  if (deps) {
    // Staging holds process memory: root only, also when an earlier version made it with the umask.
    await mkdir(deps.stagingDir, { recursive: true, mode: STAGING_DIR_MODE });
    await chmod(deps.stagingDir, STAGING_DIR_MODE);
  }
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect({ address: config.temporal.address, ...config.temporal.secrets.connectionOptions() });
  } catch (err) {
    const problem = await diagnoseConnection(config.temporal);
    throw new WorkerSetupError(connectFailureMessage(config.temporal, problem, err), { cause: err });
  }
  try {
    const workers = await createFerryWorkers({
      connection,
      namespace: config.temporal.namespace,
      taskQueuePrefix: config.temporal.taskQueuePrefix,
      workflows: runWorkflows,
      ...(deps ? { host, activities: createActivities(deps) } : {}),
    });
    opts.onReady?.({
      ...(runWorkflows ? { workflowQueue: workflowTaskQueue(config.temporal.taskQueuePrefix) } : {}),
      ...(deps ? { hostQueue: hostTaskQueue(config.temporal.taskQueuePrefix, host), stagingDir: deps.stagingDir } : {}),
      ...(deps?.direct ? { directAddress: `${deps.direct.host}:${deps.direct.port || 'any free port'}` } : {}),
    });
    await runWorkers(workers);
  } finally {
    await connection.close();
  }
}
