/**
 * Harness for workflow tests: a real Temporal dev server (the installed `temporal` binary, started
 * by @temporalio/testing on a free port), the real workflow bundle, the real activities, and fake
 * CRIU / store ports scripted per test (so every stop rule can be driven exactly).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, type WorkflowBundle, type Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import type { ActivityDeps, CriuPort, StorePort } from '../../src/activities/deps';
import type { DumpRequest, DumpResult, DumpStats, PreDumpRequest, ProcessIdentity } from '../../src/criu/types';
import type { LayerRecord, PullOptions } from '../../src/storage/types';
import { FerryClient } from '../../src/client';
import { createFerryWorkers } from '../../src/worker';

/** The Temporal CLI binary; tests fail (not skip) without it. */
export function temporalBinary(): string {
  const candidates = [process.env.FERRY_TEMPORAL_BIN, path.join(os.homedir(), 'go/bin/temporal'), '/usr/local/bin/temporal'];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  try {
    return execFileSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('the Temporal CLI (`temporal`) is not installed: run `make system-deps`');
  }
}

let runtimeInstalled = false;
export async function startEnv(): Promise<TestWorkflowEnvironment> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    runtimeInstalled = true;
  }
  return TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: temporalBinary() }, ip: '127.0.0.1', log: { format: 'pretty', level: 'error' } },
  });
}

let bundle: Promise<WorkflowBundle> | null = null;
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger: new DefaultLogger('WARN') });
  return bundle;
}

const identityOf = (pid: number): ProcessIdentity => ({ pid, startTime: 1000 + pid, bootId: 'boot-1', comm: 'workload' });

const stats = (pagesWritten: number, memdumpTimeUs: number, frozenTimeUs = memdumpTimeUs + 500): DumpStats => ({
  frozenTimeUs,
  memdumpTimeUs,
  pagesScanned: 10000,
  pagesWritten,
  pagesSkippedParent: 0,
});

/** A scripted CRIU: pre-dump N writes preDumpPages[N] pages at `usPerPage`. */
export class FakeCriu implements CriuPort {
  memTrack = true;
  preDumpPages: number[] = [];
  finalDumpPages = 100;
  usPerPage = 1;
  /** Pids that exist; a final dump without leaveRunning removes the pid. */
  alive = new Set<number>();
  calls: string[] = [];
  restoredPid = 0;
  /** Runs inside each pre-dump (e.g. wait for a test gate). */
  onPreDump: (index: number) => Promise<void> = async () => {};
  failRestore: Error | null = null;
  private preDumps = 0;

  async check() {
    return { version: '4.1.1', features: { memTrack: this.memTrack, lazyPages: true, pidfdStore: true } };
  }
  async identify(pid: number) {
    if (!this.alive.has(pid)) throw Object.assign(new Error(`no process with pid ${pid}`), { name: 'NoSuchProcessError' });
    return identityOf(pid);
  }
  private write(dir: string, pages: number) {
    fs.writeFileSync(path.join(dir, 'pages-1.img'), Buffer.alloc(pages));
    fs.writeFileSync(path.join(dir, 'inventory.img'), 'inv');
  }
  async preDump(req: PreDumpRequest): Promise<DumpResult> {
    const n = this.preDumps++;
    this.calls.push(`pre-dump:${path.basename(req.imagesDir)}:parent=${req.prevImagesDir ? path.basename(req.prevImagesDir) : '-'}`);
    await this.onPreDump(n);
    const pages = this.preDumpPages[n] ?? this.preDumpPages[this.preDumpPages.length - 1] ?? 100;
    this.write(req.imagesDir, pages);
    return { kind: 'pre-dump', pid: req.pid, imagesDir: req.imagesDir, parent: req.prevImagesDir ?? null, leftRunning: true, process: identityOf(req.pid), stats: stats(pages, pages * this.usPerPage), criuVersion: '4.1.1' };
  }
  async dump(req: DumpRequest): Promise<DumpResult> {
    this.calls.push(`dump:${path.basename(req.imagesDir)}:parent=${req.prevImagesDir ? path.basename(req.prevImagesDir) : '-'}`);
    this.write(req.imagesDir, this.finalDumpPages);
    if (!req.leaveRunning) this.alive.delete(req.pid);
    return { kind: 'dump', pid: req.pid, imagesDir: req.imagesDir, parent: req.prevImagesDir ?? null, leftRunning: !!req.leaveRunning, process: identityOf(req.pid), stats: stats(this.finalDumpPages, this.finalDumpPages * this.usPerPage), criuVersion: '4.1.1' };
  }
  async restore(req: { imagesDir: string }) {
    this.calls.push(`restore:${req.imagesDir}`);
    if (this.failRestore) throw this.failRestore;
    const pid = this.restoredPid || 40000 + this.calls.length;
    this.alive.add(pid);
    return { pid, imagesDir: req.imagesDir, restoreTimeUs: 1234 };
  }
  async isAlive(identity: ProcessIdentity) {
    return this.alive.has(identity.pid);
  }
}

/** An in-memory layer store shared by every fake host (like one bucket). */
export class FakeStore implements StorePort {
  layers = new Map<string, Map<number, LayerRecord>>();
  manifests = new Map<string, { complete: boolean; layers: LayerRecord[]; baseLayers: Array<{ checkpointId: string; index: number }> }>();
  puts: string[] = [];
  failPut: ((checkpointId: string, index: number) => Error | null) | null = null;
  putGate: Promise<void> | null = null;

  async putLayer(checkpointId: string, layer: Parameters<StorePort['putLayer']>[1], dir: string) {
    this.puts.push(`${checkpointId}#${layer.index}`);
    if (this.putGate) await this.putGate;
    const err = this.failPut?.(checkpointId, layer.index);
    if (err) throw err;
    const files = fs.readdirSync(dir).map((name) => ({ name, size: fs.statSync(path.join(dir, name)).size, sha256: 'x'.repeat(64) }));
    const record: LayerRecord = { ...layer, files, bytes: files.reduce((a, f) => a + f.size, 0), storedAt: new Date().toISOString() };
    const m = this.layers.get(checkpointId) ?? new Map<number, LayerRecord>();
    const already = m.has(layer.index);
    m.set(layer.index, record);
    this.layers.set(checkpointId, m);
    return { record, bytesSent: already ? 0 : record.bytes };
  }
  async commit(checkpointId: string, layers: LayerRecord[], baseLayers: Array<{ checkpointId: string; index: number }>) {
    const complete = layers.length > 0 && layers[layers.length - 1].kind === 'dump';
    this.manifests.set(checkpointId, { complete, layers, baseLayers });
    return { layers: layers.length, complete };
  }
  /** One entry per finished pull: which layer indexes it downloaded, and whether the manifest was complete. */
  pulls: Array<{ checkpointId: string; downloaded: number[]; complete: boolean }> = [];
  pullsStarted = 0;
  /** Runs at the start of each pull (e.g. wait for a test gate, or throw to fail it). */
  beforePull: (checkpointId: string, complete: boolean) => Promise<void> = async () => {};

  async pullChain(checkpointId: string, intoDir: string, opts: PullOptions) {
    const man = this.manifests.get(checkpointId);
    if (!man) throw Object.assign(new Error(`checkpoint ${checkpointId} not found`), { name: 'CheckpointNotFound' });
    if (!man.complete && !opts.allowIncomplete) throw Object.assign(new Error(`checkpoint ${checkpointId} is incomplete`), { name: 'CheckpointIncomplete' });
    this.pullsStarted++;
    await this.beforePull(checkpointId, man.complete);
    const downloaded: number[] = [];
    const layerDirs = man.layers.map((l) => {
      const d = path.join(intoDir, `layer-${l.index}`);
      if (!fs.existsSync(d)) {
        fs.mkdirSync(d, { recursive: true });
        fs.writeFileSync(path.join(d, 'inventory.img'), 'inv');
        downloaded.push(l.index);
      }
      return d;
    });
    this.pulls.push({ checkpointId, downloaded, complete: man.complete });
    return { layerDirs, finalDir: layerDirs[layerDirs.length - 1], downloaded, bytes: 3 * downloaded.length };
  }
  async discard(checkpointId: string) {
    this.layers.delete(checkpointId);
    this.manifests.delete(checkpointId);
  }
}

export interface FakeHost {
  name: string;
  criu: FakeCriu;
  deps: ActivityDeps;
}

export function fakeHost(name: string, store: FakeStore, root: string): FakeHost {
  const criu = new FakeCriu();
  const stagingDir = path.join(root, name);
  fs.mkdirSync(stagingDir, { recursive: true });
  return { name, criu, deps: { host: name, stagingDir, criu, store, kernel: '6.18-test', pageSize: 4096, heartbeatIntervalMs: 200 } };
}

let prefixCounter = 0;
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

/**
 * With FERRY_CAPTURE_HISTORIES=1, saves a finished workflow's history for the replay tests
 * (test/replay/histories/<name>.json): real workflow code on a real server, scripted CRIU.
 */
export async function captureHistory(ferry: FerryClient, workflowId: string, name: string): Promise<void> {
  if (process.env.FERRY_CAPTURE_HISTORIES !== '1') return;
  const history = await ferry.client.workflow.getHandle(workflowId).fetchHistory();
  const dir = path.resolve(__dirname, '..', 'replay', 'histories');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), historyToJSON(history) + '\n');
}

const tempRoots: string[] = [];
export function tempRoot(tag: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ferry-${tag}-`));
  tempRoots.push(dir);
  return dir;
}

export function removeTempRoots(): void {
  for (const d of tempRoots.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** Polls `check` until it returns a value (not undefined/false) or the deadline passes. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
