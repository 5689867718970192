/**
 * A scripted host for activity and workflow tests: fake CRIU and store ports, scripted per test
 * so every stop rule can be driven exactly, behind the real activities.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ActivityDeps, CriuPort, StorePort } from '../../src/activities/deps';
import type { DumpRequest, DumpResult, DumpStats, PreDumpRequest, ProcessIdentity } from '../../src/criu/types';
import type { LayerRecord, PullOptions } from '../../src/storage/types';

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
  /** Runs as each restore starts (e.g. to look at the store at that moment). */
  onRestore: (imagesDir: string) => void = () => {};
  /** The CRIU resource options each dump and pre-dump was asked for, in order. */
  optionsSeen: Array<Record<string, boolean>> = [];
  /** An extra file the final dump writes (e.g. a name a direct receiver must refuse). */
  finalDumpExtraFile: string | null = null;
  /** What dumpableBytes() reports (null: unknown, as from a host that cannot read it). */
  residentBytes: number | null = null;
  private preDumps = 0;

  async dumpableBytes() {
    return this.residentBytes;
  }

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
    this.optionsSeen.push({ ...(req.criuOptions ?? {}) });
    this.calls.push(`pre-dump:${path.basename(req.imagesDir)}:parent=${req.prevImagesDir ? path.basename(req.prevImagesDir) : '-'}`);
    await this.onPreDump(n);
    const pages = this.preDumpPages[n] ?? this.preDumpPages[this.preDumpPages.length - 1] ?? 100;
    this.write(req.imagesDir, pages);
    return { kind: 'pre-dump', pid: req.pid, imagesDir: req.imagesDir, parent: req.prevImagesDir ?? null, leftRunning: true, process: identityOf(req.pid), stats: stats(pages, pages * this.usPerPage), criuVersion: '4.1.1' };
  }
  async dump(req: DumpRequest): Promise<DumpResult> {
    this.calls.push(`dump:${path.basename(req.imagesDir)}:parent=${req.prevImagesDir ? path.basename(req.prevImagesDir) : '-'}`);
    this.optionsSeen.push({ ...(req.criuOptions ?? {}) });
    this.write(req.imagesDir, this.finalDumpPages);
    if (this.finalDumpExtraFile) fs.writeFileSync(path.join(req.imagesDir, this.finalDumpExtraFile), 'extra');
    if (!req.leaveRunning) this.alive.delete(req.pid);
    return { kind: 'dump', pid: req.pid, imagesDir: req.imagesDir, parent: req.prevImagesDir ?? null, leftRunning: !!req.leaveRunning, process: identityOf(req.pid), stats: stats(this.finalDumpPages, this.finalDumpPages * this.usPerPage), criuVersion: '4.1.1' };
  }
  async restore(req: { imagesDir: string }) {
    this.calls.push(`restore:${req.imagesDir}`);
    this.onRestore(req.imagesDir);
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
  manifests = new Map<string, { complete: boolean; layers: LayerRecord[]; baseLayers: Array<{ checkpointId: string; index: number }>; warm?: { scheduleIds: string[] } }>();
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
  async commit(checkpointId: string, layers: LayerRecord[], baseLayers: Array<{ checkpointId: string; index: number }>, warm?: { scheduleIds: string[] }) {
    const complete = layers.length > 0 && layers[layers.length - 1].kind === 'dump';
    this.manifests.set(checkpointId, { complete, layers, baseLayers, ...(warm ? { warm } : {}) });
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
    const bytes = man.layers.filter((l) => downloaded.includes(l.index)).reduce((n, l) => n + l.bytes, 0);
    return { layerDirs, finalDir: layerDirs[layerDirs.length - 1], downloaded, bytes };
  }
  async exists(checkpointId: string) {
    return this.manifests.has(checkpointId);
  }
  /** Who claimed each id (the conditional write's metadata). */
  owners = new Map<string, string>();
  async claim(checkpointId: string, owner: string) {
    if (this.manifests.has(checkpointId)) return this.owners.get(checkpointId) === owner;
    this.manifests.set(checkpointId, { complete: false, layers: [], baseLayers: [] });
    this.owners.set(checkpointId, owner);
    return true;
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

/**
 * Scripted time for the convergence rules: the host's clock runs `lagMs` behind, and each CRIU
 * call seems to take half as long as the one before (the first `firstMs`). Layers are then seconds
 * apart, so the dirty rate (pages over the time between layers) is measurable and each round
 * predicts a smaller next one, while the last layer still looks old to the workflow; the real
 * steps take milliseconds, which this clock dwarfs.
 */
export function halvingDumpClock(host: FakeHost, firstMs: number, lagMs = 100_000): void {
  // Each reading also moves on 1 ms: a step between two readings (an upload of a few KiB on a fast
  // machine) never measures 0 ms, which the rates would rightly ignore as no sample.
  let readings = 0;
  host.deps.now = () => Date.now() - lagMs + 2 * firstMs * (1 - 0.5 ** host.criu.calls.length) + readings++;
}

/** A host of fake CRIU and store; `direct` gives its worker a direct receiver on loopback (real TLS). */
export function fakeHost(name: string, store: FakeStore, root: string, opts: { direct?: boolean } = {}): FakeHost {
  const criu = new FakeCriu();
  const stagingDir = path.join(root, name);
  fs.mkdirSync(stagingDir, { recursive: true });
  const direct = opts.direct ? { direct: { host: '127.0.0.1', port: 0 } } : {};
  return { name, criu, deps: { host: name, stagingDir, criu, store, kernel: '6.18-test', pageSize: 4096, heartbeatIntervalMs: 200, ...direct } };
}
