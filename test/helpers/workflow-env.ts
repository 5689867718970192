/**
 * The one Temporal environment of the workflow tests (test/workflow): a local dev server (the
 * installed `temporal` binary, started by @temporalio/testing on a free port), the real workflow
 * bundle and the real activities, on fake hosts (fake-host.ts) scripted per test.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { FerryClient } from '../../src/client';
import { createFerryWorkers } from '../../src/worker';
import { findTemporal } from './binaries';
import type { FakeHost } from './fake-host';
import { removeTempRoots } from './temp-dirs';
import { installTestRuntime, workflowBundle } from './temporal';

export async function startWorkflowEnv(): Promise<TestWorkflowEnvironment> {
  installTestRuntime();
  return TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: findTemporal() }, ip: '127.0.0.1', log: { format: 'pretty', level: 'error' } },
  });
}

/**
 * Starts the environment (and bundles the workflows) once for a test file, tears it down and
 * removes the file's temp roots after it; tests read `.env` once the file's tests run.
 */
export function useWorkflowEnv(): { readonly env: TestWorkflowEnvironment } {
  const shared: { env: TestWorkflowEnvironment | undefined } = { env: undefined };
  beforeAll(async () => {
    [shared.env] = await Promise.all([startWorkflowEnv(), workflowBundle()]);
  }, 180000);
  afterAll(async () => {
    await shared.env?.teardown();
    removeTempRoots();
  });
  return {
    get env(): TestWorkflowEnvironment {
      if (!shared.env) throw new Error('the workflow test environment is not started (use it inside a test)');
      return shared.env;
    },
  };
}

let prefixCounter = 0;
/** A task-queue prefix of its own per test: the server outlives a test, and a later test's workers must not take its leftover tasks. */
export function uniquePrefix(): string {
  return `t${process.pid}-${++prefixCounter}`;
}

/** Runs a workflow worker and one activity worker per host while `fn` runs. */
export async function withWorkers<T>(
  env: TestWorkflowEnvironment,
  prefix: string,
  hosts: FakeHost[],
  fn: (ferry: FerryClient) => Promise<T>,
): Promise<T> {
  const b = await workflowBundle();
  const workers: Worker[] = [];
  workers.push(...(await createFerryWorkers({ connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueuePrefix: prefix, workflowBundle: b })));
  for (const h of hosts) {
    workers.push(
      ...(await createFerryWorkers({
        connection: env.nativeConnection,
        namespace: env.namespace ?? 'default',
        taskQueuePrefix: prefix,
        host: h.name,
        activities: createActivities(h.deps),
        workflows: false,
      })),
    );
  }
  const runs = workers.map((w) => w.run());
  const ferry = new FerryClient({ client: env.client, taskQueuePrefix: prefix, webUrl: 'http://127.0.0.1:8233' });
  try {
    return await fn(ferry);
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.allSettled(runs);
  }
}
