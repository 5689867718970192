/**
 * A scripted host for activity and workflow tests: fake CRIU and store ports, scripted per test
 * so every stop rule can be driven exactly, behind the real activities.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CriuFailedError, LazyPagesFailedError } from '../../src/core';
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
  /**
   * Post-copy: the bytes a lazy dump's page server (a real TCP server here) sends to the one
   * client it accepts, and what the lazy restore must receive to succeed.
   */
  lazyPageBytes = 256 * 1024;
  /** The lazy page server stops after this many bytes (a source that fails mid-transfer). */
  lazyServeCutAt: number | null = null;
  /** The lazy restore fails before the process runs (CRIU's RESTORE refused). */
  failLazyRestoreBeforeRunning = false;
  /** What each lazy dump ended with: 'served' (process gone) or 'resumed' (CRIU resumed it). */
  lazyDumpEnds: Array<'served' | 'resumed'> = [];
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
  /**
   * Like CRIU's lazy dump: non-memory images, then a page server on every IPv4 address that
   * accepts one client and closes its listener; `serving` is called once it listens. A page
   * stream cut short, or `serving` failing, leaves the process alive (CRIU resumes it).
   */
  async lazyDump(req: DumpRequest, serving: () => Promise<void>): Promise<DumpResult> {
    this.calls.push(`lazy-dump:${path.basename(req.imagesDir)}`);
    fs.writeFileSync(path.join(req.imagesDir, 'inventory.img'), 'inv');
    fs.writeFileSync(path.join(req.imagesDir, 'core-1.img'), Buffer.alloc(2048, 1));
    const served = new Promise<void>((resolve, reject) => {
      const server = net.createServer((socket) => {
        server.close(); // one client, as CRIU's run_tcp_server
        let sent = 0;
        socket.once('data', () => {
          const limit = this.lazyServeCutAt ?? this.lazyPageBytes;
          socket.write(Buffer.alloc(Math.min(limit, this.lazyPageBytes), 7), () => {
            sent = Math.min(limit, this.lazyPageBytes);
            if (sent < this.lazyPageBytes) socket.destroy();
            else socket.end();
          });
        });
        socket.on('error', () => undefined);
        socket.once('close', () => (sent >= this.lazyPageBytes ? resolve() : reject(new Error('Lazy pages transfer FAILED'))));
      });
      server.listen(req.lazyPagesPort ?? 0, '0.0.0.0', () => {
        serving().catch((err: Error) => {
          server.close();
          reject(err);
        });
      });
    });
    try {
      await served;
    } catch (err) {
      this.lazyDumpEnds.push('resumed');
      throw err;
    }
    this.lazyDumpEnds.push('served');
    this.alive.delete(req.pid);
    return { kind: 'dump', pid: req.pid, imagesDir: req.imagesDir, parent: null, leftRunning: false, process: identityOf(req.pid), stats: stats(this.lazyPageBytes / 4096, 100), criuVersion: '4.1.1' };
  }
  async restore(req: { imagesDir: string; lazyPagesFrom?: { address: string; port: number } }) {
    this.calls.push(`restore:${req.imagesDir}${req.lazyPagesFrom ? ':lazy' : ''}`);
    this.onRestore(req.imagesDir);
    if (this.failRestore) throw this.failRestore;
    const pid = this.restoredPid || 40000 + this.calls.length;
    if (req.lazyPagesFrom) return this.lazyRestore(req.imagesDir, req.lazyPagesFrom, pid);
    this.alive.add(pid);
    return { pid, imagesDir: req.imagesDir, restoreTimeUs: 1234 };
  }
  /** Like a lazy restore: the daemon connects first, the process runs, then every page must come. */
  private async lazyRestore(imagesDir: string, from: { address: string; port: number }, pid: number) {
    const socket = net.connect(from);
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    if (this.failLazyRestoreBeforeRunning) {
      socket.destroy();
      throw new CriuFailedError('RESTORE', null, ['Error (criu/cr-restore.c): Restoring FAILED.'], null, 'The process was not restored.');
    }
    this.alive.add(pid);
    const answeredAt = Date.now();
    socket.write('get');
    let got = 0;
    await new Promise<void>((resolve) => {
      socket.on('data', (c: Buffer) => (got += c.length));
      socket.on('error', () => undefined);
      socket.once('close', () => resolve());
    });
    if (got < this.lazyPageBytes) {
      throw new LazyPagesFailedError(imagesDir, pid, `the page server stopped after ${got} of ${this.lazyPageBytes} bytes`, null, 'fake');
    }
    return { pid, imagesDir, restoreTimeUs: 1234, lazyPages: { from: `${from.address}:${from.port}`, allPagesInMs: Date.now() - answeredAt } };
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
