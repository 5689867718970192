/**
 * Process wiring of `ferry worker`: one connection, the workflow worker on the shared queue
 * `<prefix>-workflows`, and this host's activity worker on `<prefix>-host-<host>`.
 * Activities come from a factory with injected dependencies, so tests run the same wiring with fakes.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { NativeConnection, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createActivities, type FerryActivities } from '../activities';
import type { ActivityDeps } from '../activities/deps';
import { STAGING_DIR_MODE } from '../activities/staging';
import { ConfigError, unencryptedStoreCheck, type FerryConfig } from '../config/config';
import { hostTaskQueue, isValidHostName, workflowTaskQueue } from '../core';
import { createHostDependencies } from './dependencies';
import { POLICY_SETTING, rootWorkerPolicyProblem } from '../policy';
import { connectFailureMessage, diagnoseConnection } from '../client/connect-diagnosis';
import { connectWithRetry } from './connect';
import { WorkerSetupError } from './errors';
import { FerryClient } from '../client';
import { loadTriggerRules, TriggerService, type TriggerRules } from '../triggers';

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

export { WorkerSetupError } from './errors';
export { connectWithRetry, type ConnectWaitOptions } from './connect';


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
  onReady?: (info: { workflowQueue?: string; hostQueue?: string; stagingDir?: string; directAddress?: string; hostPolicy?: string; triggers?: string }) => void;
  /** Told what the triggers do (events seen, workflows started, shutdown checkpoints stored). */
  onTrigger?: (line: string) => void;
  /** Told at once about a setting that works but is risky (an unencrypted remote store). */
  onWarning?: (message: string) => void;
  /** Give up connecting to Temporal after this long (ms); default: wait until it answers. */
  connectTimeoutMs?: number;
  /** Told each time Temporal did not answer, before the worker waits to try again. */
  onWaiting?: (message: string) => void;
  /** Aborting it while Temporal is awaited ends runFerryWorker cleanly, without running. */
  signal?: AbortSignal;
  /** First wait between connection attempts (ms, default 1000; tests shorten it). */
  retryDelayMs?: number;
  /** host:port to serve Prometheus metrics on (the SDK's and ferry's own), at /metrics; none when absent. */
  metricsAddress?: string;
}

/** `ferry worker`: connects, wires the real dependencies, and runs until SIGINT/SIGTERM. */
export async function runFerryWorker(opts: RunFerryWorkerOptions): Promise<void> {
  const { config, host } = opts;
  const runWorkflows = opts.workflows !== false;
  const runActivities = opts.activities !== false;
  if (!runWorkflows && !runActivities) throw new WorkerSetupError('a worker must run workflow code, activities, or both');
  const policyProblem = runActivities && !opts.deps ? rootWorkerPolicyProblem(config.hostPolicyFile) : null;
  if (policyProblem) throw new ConfigError(POLICY_SETTING, policyProblem);
  const unencrypted = runActivities ? unencryptedStoreCheck(config) : null;
  if (unencrypted && 'refuse' in unencrypted) throw new WorkerSetupError(unencrypted.refuse);
  if (unencrypted) opts.onWarning?.(unencrypted.warn);
  const deps = runActivities ? (opts.deps ?? createHostDependencies(config, host)) : undefined;
  if (deps) {
    // Staging holds process memory: root only, also when an earlier version made it with the umask.
    await mkdir(deps.stagingDir, { recursive: true, mode: STAGING_DIR_MODE });
    await chmod(deps.stagingDir, STAGING_DIR_MODE);
  }
  // Rules are read before anything connects: a bad file stops the worker at once, naming it.
  const rules = runActivities && config.triggers ? loadTriggerRules(config.triggers.rulesFile) : null;
  const guardsShutdown = rules !== null && rules.rules.some((r) => r.events.includes('shutdown'));
  // The runtime is process-wide and must be set up once, before the first connection.
  if (opts.metricsAddress || guardsShutdown) installRuntime({ metricsAddress: opts.metricsAddress, ownShutdownSignals: guardsShutdown }, opts.onWarning);
  const address = config.temporal.address;
  const connection: NativeConnection | null = await connectWithRetry({
    address,
    connect: () => NativeConnection.connect({ address, ...config.temporal.secrets.connectionOptions() }),
    explain: async (err) => {
      const problem = await diagnoseConnection(config.temporal);
      const message = connectFailureMessage(config.temporal, problem, err);
      // Unreachable (or reachable and the SDK still failed): Temporal may be on its way up.
      const waitable = problem.kind === 'unreachable' || problem.kind === 'transport-ok';
      const reason = problem.kind === 'unreachable' ? problem.detail : ((err as Error)?.message?.split('\n')[0] ?? String(err));
      return { waitable, message, reason };
    },
    ...(opts.connectTimeoutMs !== undefined ? { timeoutMs: opts.connectTimeoutMs } : {}),
    ...(opts.retryDelayMs !== undefined ? { initialDelayMs: opts.retryDelayMs } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    onWait: ({ attempt, delayMs, error }) =>
      opts.onWaiting?.(`waiting for Temporal at ${address}: attempt ${attempt} failed (${error}); trying again in ${(delayMs / 1000).toFixed(1)} s`),
  });
  if (connection === null) return;
  try {
    const workers = await createFerryWorkers({
      connection,
      namespace: config.temporal.namespace,
      taskQueuePrefix: config.temporal.taskQueuePrefix,
      workflows: runWorkflows,
      ...(deps ? { host, activities: createActivities(deps) } : {}),
    });
    const triggers = rules && config.triggers ? await startTriggers(config, host, rules, opts.onTrigger ?? (() => undefined)) : null;
    // Taken over before onReady, where the CLI drops its own handlers for the wait on Temporal.
    const release = guardsShutdown && triggers ? onStopSignals(() => stopAfterShutdownRules(triggers.service, workers, opts.onTrigger), () => stopNow(workers, opts.onTrigger)) : () => undefined;
    opts.onReady?.({
      ...(triggers ? { triggers: triggers.summary } : {}),
      ...(runWorkflows ? { workflowQueue: workflowTaskQueue(config.temporal.taskQueuePrefix) } : {}),
      ...(deps ? { hostQueue: hostTaskQueue(config.temporal.taskQueuePrefix, host), stagingDir: deps.stagingDir } : {}),
      ...(deps?.direct ? { directAddress: `${deps.direct.host}:${deps.direct.port || 'any free port'}` } : {}),
      ...(deps ? { hostPolicy: config.hostPolicyFile ?? 'the default (processes of its own uid only)' } : {}),
    });
    try {
      await runWorkers(workers);
    } finally {
      release();
      await triggers?.close();
    }
  } finally {
    await connection.close();
  }
}

/**
 * The Temporal runtime, when the defaults will not do. Metrics: the SDK's worker metrics and
 * ferry's own (ferry_workflows, ferry_layers_dumped, ferry_dump_frozen, ferry_bytes_stored,
 * ferry_downtime, ferry_chain_layers; see activities/metrics.ts and workflows/metrics.ts) served
 * for Prometheus at http://ADDRESS/metrics, counters ending in _total and histograms carrying their
 * unit, as Prometheus names them. Shutdown rules: SIGTERM and SIGINT are left to ferry, which
 * checkpoints what the rules protect before it stops the workers.
 */
function installRuntime(opts: { metricsAddress: string | undefined; ownShutdownSignals: boolean }, onWarning?: (message: string) => void): void {
  try {
    Runtime.install({
      ...(opts.ownShutdownSignals ? { shutdownSignals: [] } : {}),
      ...(opts.metricsAddress
        ? {
            telemetryOptions: {
              metrics: {
                prometheus: {
                  bindAddress: opts.metricsAddress,
                  countersTotalSuffix: true,
                  unitSuffix: true,
                  // Frozen times and downtimes span milliseconds to minutes; chains one to a few dozen layers.
                  histogramBucketOverrides: {
                    ferry_dump_frozen: [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000],
                    ferry_downtime: [50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000, 300000],
                    ferry_chain_layers: [1, 2, 4, 8, 16, 32, 64],
                  },
                },
              },
            },
          }
        : {}),
    });
  } catch (err) {
    // Already installed in this process (an embedding program, a test): its settings stay.
    onWarning?.(
      `the Temporal runtime was already installed (${(err as Error).message}): ` +
        [opts.metricsAddress ? `no metrics on ${opts.metricsAddress}` : '', opts.ownShutdownSignals ? 'SIGTERM may stop the worker before the shutdown rules\' checkpoints' : '']
          .filter(Boolean)
          .join('; '),
    );
  }
}

/** The first stop signal runs `stop`; a second one, while it runs, stops at once (`force`). */
function onStopSignals(stop: (signal: string) => Promise<void>, force: () => void): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) return force();
    stopping = true;
    void stop(signal);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.removeListener('SIGTERM', handler);
    process.removeListener('SIGINT', handler);
  };
}

/** Checkpoints what the shutdown rules protect (within the grace period), then stops the workers. */
async function stopAfterShutdownRules(service: TriggerService, workers: Worker[], log?: (line: string) => void): Promise<void> {
  try {
    const waits = await service.onShutdown();
    const stored = waits.filter((w) => w.outcome === 'stored').length;
    log?.(`shutdown: ${stored} of ${waits.length} checkpoint(s) stored; stopping the worker`);
  } catch (err) {
    log?.(`shutdown: the shutdown rules failed (${(err as Error).message}); stopping the worker`);
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  }
}

function stopNow(workers: Worker[], log?: (line: string) => void): void {
  log?.('shutdown: second stop signal; stopping without waiting for the shutdown checkpoints');
  for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
}

async function startTriggers(config: FerryConfig, host: string, rules: TriggerRules, log: (line: string) => void) {
  const ferry = await FerryClient.connect(config);
  const service = new TriggerService({ settings: config.triggers!, rules, ferry, host, log });
  try {
    const sources = await service.start();
    const summary = `${rules.rules.length} trigger rule(s) from ${rules.source}${sources.length ? ` (${sources.join('; ')})` : ''}`;
    return {
      service,
      summary,
      close: async () => {
        await service.close();
        await ferry.close();
      },
    };
  } catch (err) {
    await service.close();
    await ferry.close();
    throw err;
  }
}
