/**
 * Temporal pieces every test tier shares: the SDK runtime, the real workflow bundle, history
 * capture for the replay tests, and a dev server of a test's own.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { findTemporal } from './binaries';
import { freePort } from './ports';
import { killAndWait } from './processes';
import { until } from './until';

let runtimeInstalled = false;
/** The SDK runtime logs only errors: its info lines would bury what the tests say. Once per test file. */
export function installTestRuntime(): void {
  if (runtimeInstalled) return;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  runtimeInstalled = true;
}

let bundle: Promise<WorkflowBundle> | null = null;
/** ferry's real workflow code, bundled once per test file (bundling takes seconds). */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger: new DefaultLogger('WARN') });
  return bundle;
}

/**
 * With FERRY_CAPTURE_HISTORIES=1, saves a finished workflow's history for the replay tests
 * (test/replay/histories/<name>.json). Histories hold inputs and results only: no credentials.
 */
export async function captureHistory(handle: Pick<WorkflowHandle, 'fetchHistory'>, name: string): Promise<void> {
  if (process.env.FERRY_CAPTURE_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  const dir = path.resolve(__dirname, '..', 'replay', 'histories');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), historyToJSON(history) + '\n');
}

/** A Temporal dev server of a test's own, restartable on the same SQLite file. */
export class PrivateTemporal {
  port = 0;
  private child: ChildProcess | null = null;
  constructor(readonly dbFile: string) {}
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const ui = await freePort();
    const metrics = await freePort();
    const child = spawn(
      findTemporal(),
      ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(this.port), '--ui-port', String(ui), '--metrics-port', String(metrics), '--headless', '--db-filename', this.dbFile, '--log-level', 'error'],
      { stdio: 'ignore' },
    );
    this.child = child;
    let exited = false;
    child.once('exit', () => (exited = true));
    await until(`the private Temporal server on ${this.address}`, () => {
      if (exited) throw new Error('the private Temporal server exited at start');
      const r = spawnSync(findTemporal(), ['operator', 'namespace', 'describe', '--address', this.address, '-n', 'default'], { stdio: 'ignore', timeout: 10000 });
      return r.status === 0;
    }, 90000);
  }
  async kill(): Promise<void> {
    await killAndWait(this.child);
    this.child = null;
  }
}
