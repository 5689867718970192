/**
 * The CRIU driver against real CRIU on real processes (the workload fixture). Fails, not skips,
 * when CRIU is missing: these tests are the proof that dumps and restores work on this host.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  checkCriu,
  dump,
  preDump,
  readChain,
  readLayer,
  readProcessIdentity,
  readRestoreStats,
  readRootPid,
  restore,
  type CriuCapabilities,
  type DumpResult,
} from '../../src/criu';
import { locateCriu } from '../../src/criu/binary';
import { startShellJob } from '../fixtures/shell-job';
import { Workload } from '../fixtures/workload/workload';
import { isError, ProcessChangedError, CriuFailedError, PidInUseError, RefusedTargetError, ParentImagesInvalidError, KernelFeatureMissingError, NoSuchProcessError, ImagesDirNotEmptyError } from '../../src/core';

const MIB = 16;
const PAGES = (MIB * 1024 * 1024) / 4096;

let tmp: string;
let criu: CriuCapabilities;
const workloads: Workload[] = [];

async function startWorkload(): Promise<Workload> {
  const w = await Workload.start({ mib: MIB, dirtyPermille: 10, intervalMs: 50, dir: fs.mkdtempSync(path.join(tmp, 'wl-')) });
  workloads.push(w);
  return w;
}

function stateOf(pid: number): string | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[0]!;
  } catch {
    return null;
  }
}

function ppidOf(pid: number): number {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The target must come out of a failed step exactly as it went in: running, intact, no CRIU debris. */
/** The lowest pid visible here that the kernel flags PF_KTHREAD (kthreadd, where it is visible). */
function kernelThreadPid(): number {
  const PF_KTHREAD = 0x00200000;
  const pids = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  for (const pid of pids) {
    try {
      const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      if ((Number(fields[6]) & PF_KTHREAD) !== 0) return pid;
    } catch {
      // exited while we looked
    }
  }
  throw new Error('no kernel thread is visible in this pid namespace; run the tests where the host\'s kernel threads are visible');
}

async function expectUnaltered(w: Workload, mapsBefore: string[]): Promise<void> {
  expect(['R', 'S']).toContain(w.state());
  const maps = w.maps();
  expect(maps.filter((l) => l.includes('CRIUMFD'))).toEqual([]);
  expect(maps.length).toBe(mapsBefore.length);
  const v = await w.verify();
  expect(v).toMatchObject({ ok: true, bad: 0, pages: PAGES });
}

async function expectError(promise: Promise<unknown>, guard: (e: unknown) => boolean, message: RegExp): Promise<Error> {
  const err = await promise.then(
    () => new Error('expected the step to fail, it succeeded'),
    (e: unknown) => e as Error,
  );
  expect(err.message).toMatch(message);
  expect(guard(err)).toBe(true);
  return err;
}

/** What the images say must match what CRIU's stats say about the same dump. */
function expectImagesMatchStats(result: DumpResult): void {
  const layer = readLayer(result.imagesDir);
  expect(layer.dumpStats).toMatchObject(result.stats);
  expect(layer.pagesPresent).toBe(result.stats.pagesWritten);
  expect(layer.pagesInParent).toBe(result.stats.pagesSkippedParent);
  expect(layer.pagesBytes).toBe(result.stats.pagesWritten * 4096);
  expect(layer.problems).toEqual([]);
  expect(layer.rootPid).toBe(result.pid);
  // The workload's area alone is PAGES pages, all of them present in a full dump.
  expect(result.stats.pagesWritten).toBeGreaterThanOrEqual(PAGES);
  expect(result.stats.pagesScanned).toBeGreaterThanOrEqual(result.stats.pagesWritten);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-criu-it-'));
  criu = await checkCriu();
});

afterAll(async () => {
  for (const w of workloads) await w.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('checkCriu', () => {
  it('reports the version and the same soft-dirty verdict as `criu check --feature mem_dirty_track`', async () => {
    expect(criu.version).toMatch(/^4\.\d+/);
    const binary = await locateCriu('criu');
    let cliSaysTracked = true;
    try {
      execFileSync(binary, ['check', '--feature', 'mem_dirty_track'], { stdio: 'ignore' });
    } catch {
      cliSaysTracked = false;
    }
    expect(criu.features.memTrack).toBe(cliSaysTracked);
  });
});

describe('dump and restore', () => {
  it('round-trips a process: dump stops it, restore brings it back detached with its memory intact', async () => {
    const w = await startWorkload();
    const before = await w.verify();
    const id = await readProcessIdentity(w.pid);
    const imagesDir = path.join(tmp, 'roundtrip');
    const result = await dump({ pid: w.pid, imagesDir });
    expect(result).toMatchObject({ kind: 'dump', pid: w.pid, imagesDir, parent: null, leftRunning: false, process: id });
    expect(fs.statSync(imagesDir).mode & 0o777).toBe(0o700);
    expectImagesMatchStats(result);
    // No waiting here: the killed task may still be a zombie until init reaps it; restore waits.
    const restored = await restore({ imagesDir });
    expect(restored.pid).toBe(w.pid);
    expect(readRootPid(imagesDir)).toBe(restored.pid);
    expect(restored.restoreTimeUs).toBe(readRestoreStats(imagesDir).restoreTimeUs);
    expect(['R', 'S']).toContain(stateOf(restored.pid));
    // Detached: CRIU's intermediate shell exited, so the task was re-parented away from Node.
    expect(ppidOf(restored.pid)).not.toBe(process.pid);
    const after = await w.verify();
    expect(after).toMatchObject({ ok: true, bad: 0, pages: PAGES, pid: w.pid });
    expect(after.rounds).toBeGreaterThanOrEqual(before.rounds);
  });

  it('dump --leave-running keeps the process running and intact, and reports the freeze through hooks', async () => {
    const w = await startWorkload();
    const seen: string[] = [];
    const at: Record<string, number> = {};
    const result = await dump(
      { pid: w.pid, imagesDir: path.join(tmp, 'snapshot'), leaveRunning: true },
      {
        hooks: {
          any: (n) => {
            seen.push(n.name);
            at[n.name] = n.at;
          },
        },
      },
    );
    expect(seen[0]).toBe('pre-dump');
    expect(seen).toContain('post-dump');
    expect(seen.indexOf('post-dump')).toBeGreaterThan(0);
    // CRIU's frozen time lies inside the window the hooks saw (pre-dump comes before the freeze).
    expect(at['post-dump']! - at['pre-dump']!).toBeGreaterThanOrEqual(result.stats.memdumpTimeUs / 1000 - 1);
    expect(result.leftRunning).toBe(true);
    expectImagesMatchStats(result);
    expect(['R', 'S']).toContain(w.state());
    const first = await w.verify();
    expect(first).toMatchObject({ ok: true, bad: 0 });
    // Still dirtying pages: it was thawed, not left frozen.
    const deadline = Date.now() + 10000;
    let later = await w.verify();
    while (later.rounds <= first.rounds && Date.now() < deadline) later = await w.verify();
    expect(later.rounds).toBeGreaterThan(first.rounds);
  });

  it('restore waits for a pid that is still held, and explains when it stays held', async () => {
    const w = await startWorkload();
    const imagesDir = path.join(tmp, 'held');
    await dump({ pid: w.pid, imagesDir, leaveRunning: true });
    const err = await expectError(restore({ imagesDir }, { pidWaitMs: 300 }), ((e: unknown) => isError(e, PidInUseError)), new RegExp(`cannot restore pid ${w.pid}: it is still held by process workload \\(state [RS]`));
    expect(err.message).toMatch(/after waiting 300 ms/);
    await expectUnaltered(w, w.maps());

    // The holder exits while restore waits: restore then proceeds into the freed pid.
    const pending = restore({ imagesDir }, { pidWaitMs: 15000 });
    setTimeout(() => process.kill(w.pid, 'SIGKILL'), 200);
    const restored = await pending;
    expect(restored.pid).toBe(w.pid);
    expect(await w.verify()).toMatchObject({ ok: true, bad: 0 });
  });

  it('refuses to restore a dir that is not a final dump', async () => {
    await expectError(restore({ imagesDir: path.join(tmp, 'nothing-here') }), (e) => (e as Error).name === 'ImagesInvalidError', /no such directory/);
  });
});

describe('failures inside CRIU leave the target running', () => {
  it('a hook that refuses the freeze: CRIU rolls back, images are discarded, the log stays', async () => {
    const w = await startWorkload();
    const maps = w.maps();
    const imagesDir = path.join(tmp, 'hook-refused');
    await expect(
      dump({ pid: w.pid, imagesDir }, { hooks: { preDump: () => { throw new Error('maintenance window closed'); } } }),
    ).rejects.toThrow('maintenance window closed');
    expect(fs.readdirSync(imagesDir)).toEqual(['dump.log']);
    await expectUnaltered(w, maps);
  });

  it('an abort during the step is delivered to CRIU as a refusal', async () => {
    const w = await startWorkload();
    const maps = w.maps();
    const controller = new AbortController();
    const imagesDir = path.join(tmp, 'aborted');
    await expect(
      dump({ pid: w.pid, imagesDir }, { signal: controller.signal, hooks: { preDump: () => controller.abort(new Error('workflow cancelled')) } }),
    ).rejects.toThrow('workflow cancelled');
    await expectUnaltered(w, maps);
    // The same dir can be used by the retry.
    const retried = await dump({ pid: w.pid, imagesDir, leaveRunning: true });
    expect(retried.stats.pagesWritten).toBeGreaterThanOrEqual(PAGES);
  });

  it('a process CRIU cannot dump (not leading its session): the error says why and the target runs on', async () => {
    const pid = startShellJob();
    try {
      const imagesDir = path.join(tmp, 'not-leader');
      const err = await expectError(dump({ pid, imagesDir }), ((e: unknown) => isError(e, CriuFailedError)), /CRIU DUMP failed: Error \(criu\/pstree\.c:\d+\): The root process \d+ is not a session leader/);
      expect(err.message).toMatch(/setsid PROGRAM.*--shell-job/);
      expect(err.message).toContain(path.join(imagesDir, 'dump.log'));
      expect(fs.readdirSync(imagesDir)).toEqual(['dump.log']);
      expect(['R', 'S']).toContain(stateOf(pid));
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });

  it('a shell job (not leading its session) dumps and restores with shellJob', async () => {
    const pid = startShellJob();
    let restoredPid: number | null = null;
    try {
      const imagesDir = path.join(tmp, 'shell-job');
      const dumped = await dump({ pid, imagesDir, shellJob: true });
      expect(dumped.leftRunning).toBe(false);
      const restored = await restore({ imagesDir, shellJob: true }, { pidWaitMs: 15000 });
      restoredPid = restored.pid;
      expect(restored.pid).toBe(pid);
      expect(['R', 'S']).toContain(stateOf(restored.pid));
      // It joined the session of the restoring process (this test), as a shell job does.
      const sessionOf = (p: number) => Number(fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[3]);
      expect(sessionOf(restored.pid)).toBe(sessionOf(process.pid));
    } finally {
      try {
        process.kill(restoredPid ?? pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
});

describe('refusals leave the target untouched', () => {
  let w: Workload;
  let maps: string[];
  beforeAll(async () => {
    w = await startWorkload();
    maps = w.maps();
  });
  afterEach(async () => {
    await expectUnaltered(w, maps);
  });

  it('no such pid', async () => {
    const imagesDir = path.join(tmp, 'nopid');
    await expectError(dump({ pid: 4194303, imagesDir }), ((e: unknown) => isError(e, NoSuchProcessError)), /no process with pid 4194303/);
    expect(fs.existsSync(imagesDir)).toBe(false);
  });

  it('pid 1 and ferry\'s own tree', async () => {
    await expectError(dump({ pid: 1, imagesDir: path.join(tmp, 'init') }), ((e: unknown) => isError(e, RefusedTargetError)), /pid 1 \(init\)/);
    await expectError(dump({ pid: process.pid, imagesDir: path.join(tmp, 'self') }), ((e: unknown) => isError(e, RefusedTargetError)), /ferry itself/);
    await expectError(preDump({ pid: process.ppid, imagesDir: path.join(tmp, 'parent') }), ((e: unknown) => isError(e, RefusedTargetError)), /ancestors/);
  });

  it('pid 2 inside a pid namespace is an ordinary process, not refused as a kernel thread', async () => {
    // kthreadd is pid 2 only in the root pid namespace; in a container the same number is a user's process.
    const processModule = path.resolve(__dirname, '..', '..', 'dist', 'criu', 'process.js');
    if (!fs.existsSync(processModule)) throw new Error('dist/ is missing: run `npm run build` before this test');
    const probe = `const { checkTarget } = require(${JSON.stringify(processModule)});
      try { console.log(JSON.stringify(checkTarget(Number(process.argv[1])))); }
      catch (e) { console.log(JSON.stringify({ refused: e.reason ?? e.message })); }`;
    const script = `sleep 30 & out=$("$0" -e "$1" $!); kill $!; echo "$out"`;
    const out = execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'sh', '-c', script, process.execPath, probe]).toString();
    const verdict = JSON.parse(out) as { pid?: number; refused?: string };
    expect(verdict).toMatchObject({ pid: 2 });
    // A real kernel thread of this namespace is still refused (kthreadd is pid 2 only in the root one).
    const kthread = kernelThreadPid();
    await expectError(dump({ pid: kthread, imagesDir: path.join(tmp, 'kthreadd') }), ((e: unknown) => isError(e, RefusedTargetError)), /kernel thread/);
  });

  it('a non-empty images dir', async () => {
    const imagesDir = path.join(tmp, 'busy');
    fs.mkdirSync(imagesDir);
    fs.writeFileSync(path.join(imagesDir, 'notes.txt'), 'mine');
    await expectError(dump({ pid: w.pid, imagesDir }), ((e: unknown) => isError(e, ImagesDirNotEmptyError)), /is not empty \(notes\.txt\)/);
    expect(fs.readdirSync(imagesDir)).toEqual(['notes.txt']);
  });

  it('a bad --prev-images-dir', async () => {
    await expectError(dump({ pid: w.pid, imagesDir: path.join(tmp, 'p1'), prevImagesDir: path.join(tmp, 'missing') }), ((e: unknown) => isError(e, ParentImagesInvalidError)), /no such directory/);
    const full = path.join(tmp, 'full-for-prev');
    await dump({ pid: w.pid, imagesDir: full, leaveRunning: true });
    maps = w.maps(); // a successful dump may change mappings no more than a failed one: re-baseline
    await expectError(dump({ pid: w.pid, imagesDir: path.join(tmp, 'p2'), prevImagesDir: full }), ((e: unknown) => isError(e, ParentImagesInvalidError)), /full dump, not a pre-dump/);
    expect(fs.existsSync(path.join(tmp, 'p2'))).toBe(false);
  });

  it('a recycled pid (identity recorded at the first step no longer matches)', async () => {
    const id = await readProcessIdentity(w.pid);
    await expectError(
      dump({ pid: w.pid, imagesDir: path.join(tmp, 'recycled'), expectedIdentity: { ...id, startTime: id.startTime - 100 } }),
      ((e: unknown) => isError(e, ProcessChangedError)),
      /no longer the process this chain started with/,
    );
  });

  it('pre-dump where the kernel has no soft-dirty tracking (or a real pre-dump where it has)', async () => {
    const imagesDir = path.join(tmp, 'predump-1');
    if (!criu.features.memTrack) {
      await expectError(preDump({ pid: w.pid, imagesDir }), ((e: unknown) => isError(e, KernelFeatureMissingError)), /CONFIG_MEM_SOFT_DIRTY/);
      expect(fs.existsSync(imagesDir)).toBe(false);
      return;
    }
    const first = await preDump({ pid: w.pid, imagesDir });
    const second = await preDump({ pid: w.pid, imagesDir: path.join(tmp, 'predump-2'), prevImagesDir: imagesDir, expectedIdentity: first.process });
    expect(second.stats.pagesSkippedParent).toBeGreaterThan(0);
    const chain = readChain(second.imagesDir);
    expect(chain.consistent).toBe(true);
    maps = w.maps();
  });
});
