/**
 * The soft-dirty lab, end to end (infra/lab, docs/lab.md): the pre-dump chain cannot run on
 * kernels without soft-dirty tracking (this project's own hosts among them), so ferry's CLI runs
 * it inside a qemu guest booted with Debian's 6.1 kernel, which tracks dirty pages.
 *
 *   boot 1  ferry pre-dump, pre-dump --prev-images-dir, dump --prev-images-dir, restore; the
 *           workload verifies every page; the chain comes back to the host.
 *   host    ferry inspect; ferry push to the dev stack's MinIO and ferry pull back, compared
 *           byte for byte; a copy whose final dump points at the wrong parent must fail
 *           ferry's chain check.
 *   boot 2  ferry refuses to restore the wrong-parent copy, then restores the pulled chain and
 *           the workload verifies every page again.
 *
 * Every component is real and required: a missing qemu, kernel package, CRIU or MinIO fails
 * this test (it never skips). Each boot has a hard timeout, so a hung guest cannot hang the run.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const repo = path.resolve(__dirname, '..', '..');
const labDir = path.join(repo, 'infra', 'lab');
const BOOT_TIMEOUT_S = 300;
// Guest build (cold ~1 min) + boot 1 + boot 2 on a busy 2-core host, with margin.
const SUITE_TIMEOUT_MS = 420_000;

interface Step {
  stats: { frozenTimeUs: number; pagesWritten: number; pagesSkippedParent: number; pagesScanned: number };
  imagesDir: string;
  parent: string | null;
  wallMs: number;
}

interface Verify {
  pid: number;
  check: number;
  ok: boolean;
  pages: number;
  bad: number;
  rounds: number;
}

interface ChainValue {
  pid: number;
  preDump1: Step;
  preDump2: Step;
  finalDump: Step;
  restore: { pid: number; wallMs: number };
  verifyBefore: Verify;
  verifyAfter: Verify;
}

interface TaskResult<T> {
  kind: string;
  ok: boolean;
  value: T;
  error?: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd: repo, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
}

function mustRun(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = run(cmd, args, env);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}${r.signal ? ` (${r.signal})` : ''}:\n${r.stderr.slice(-6000)}\n${r.stdout.slice(-2000)}`);
  }
  return r.stdout;
}

function ferry(args: string[]): SpawnSyncReturns<string> {
  return run(process.execPath, [path.join(repo, 'bin', 'ferry.js'), ...args]);
}

function ferryJson<T>(args: string[]): T {
  const r = ferry([...args, '--json']);
  if (r.status !== 0) throw new Error(`ferry ${args.join(' ')} exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

/** Boots the guest on `share` (which holds job.json); on failure, the console tail explains why. */
function boot(guest: string, share: string): void {
  const r = run('bash', [path.join(labDir, 'boot-guest.sh'), guest, share], { FERRY_LAB_TIMEOUT: String(BOOT_TIMEOUT_S) });
  if (r.status !== 0) {
    let consoleTail = '';
    try {
      consoleTail = fs.readFileSync(path.join(share, 'console.log'), 'utf8').split('\n').slice(-60).join('\n');
    } catch {
      consoleTail = '(no console log)';
    }
    throw new Error(`lab boot failed (exit ${r.status}):\n${r.stderr.slice(-3000)}\n--- guest console (tail) ---\n${consoleTail}`);
  }
}

function taskValue<T>(share: string, kind: string): T {
  const result = JSON.parse(fs.readFileSync(path.join(share, 'out', 'result.json'), 'utf8')) as { tasks: Array<TaskResult<T>> };
  const task = result.tasks.find((t) => t.kind === kind);
  if (!task) throw new Error(`the guest ran no ${kind} task`);
  if (!task.ok) throw new Error(`the guest's ${kind} task failed: ${task.error}`);
  return task.value;
}

/** Regular files of an images dir (name -> bytes), without CRIU's `parent` link. */
function layerFiles(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'parent') continue;
    if (!e.isFile()) throw new Error(`${path.join(dir, e.name)} is not a regular file`);
    files.set(e.name, fs.readFileSync(path.join(dir, e.name)));
  }
  return files;
}

describe('soft-dirty lab: the pre-dump chain on a kernel that tracks dirty pages', () => {
  let work: string;
  let guest: string;
  let boot1: string;
  let chainDir: string;
  let chain: ChainValue;
  const checkpoint = `lab-${process.pid}-${Date.now()}`;
  let pushed = false;

  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-lab-test-'));
    guest = mustRun('bash', [path.join(labDir, 'build-guest.sh')]).trim().split('\n').pop()!;
    const workload = mustRun('bash', [path.join(repo, 'test', 'fixtures', 'workload', 'build.sh'), '--static']).trim();
    boot1 = path.join(work, 'boot1');
    fs.mkdirSync(boot1);
    // Both boots run this very file: a restore needs the executable it dumped, byte for byte.
    fs.copyFileSync(workload, path.join(boot1, 'workload'));
    const job = {
      tasks: [
        { kind: 'check' },
        // 48 MiB, 0.5% of pages every 200 ms: enough dirty pages between layers to tell them
        // apart, small enough to keep a TCG boot short. THP off the workload's memory: a huge
        // page has one soft-dirty bit for 2 MiB, and scattered writes would dirty every one.
        { kind: 'chain', gapMs: 500, thp: 'madvise', workload: { mib: 48, dirtyPermille: 5, intervalMs: 200 } },
      ],
    };
    fs.writeFileSync(path.join(boot1, 'job.json'), JSON.stringify(job));
    boot(guest, boot1);
    chain = taskValue<ChainValue>(boot1, 'chain');
    chainDir = path.join(boot1, 'out', 'chain');
  }, SUITE_TIMEOUT_MS);

  afterAll(() => {
    if (pushed) ferry(['checkpoints', 'rm', checkpoint, '--json']);
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('CRIU in the guest passes its checks, soft-dirty tracking included', () => {
    const check = taskValue<{ kernel: string; check: { exit: number }; memDirtyTrack: { exit: number }; ferryCheck: { features: { memTrack: boolean } } }>(boot1, 'check');
    expect(check.kernel).toMatch(/^6\.1\./);
    expect(check.check.exit).toBe(0);
    expect(check.memDirtyTrack.exit).toBe(0);
    expect(check.ferryCheck.features.memTrack).toBe(true);
  });

  test('each layer of the chain writes only what changed, and the restored memory is intact', () => {
    const pages = chain.verifyBefore.pages;
    expect(chain.verifyBefore.ok).toBe(true);
    // Pre-dump 1 has no parent: it writes at least the whole workload area.
    expect(chain.preDump1.parent).toBeNull();
    expect(chain.preDump1.stats.pagesWritten).toBeGreaterThanOrEqual(pages);
    expect(chain.preDump1.stats.pagesSkippedParent).toBe(0);
    // The later layers reuse many pages from their parent and write only the dirtied rest.
    for (const step of [chain.preDump2, chain.finalDump]) {
      expect(step.parent).not.toBeNull();
      expect(step.stats.pagesSkippedParent).toBeGreaterThan(pages / 3);
      expect(step.stats.pagesWritten).toBeGreaterThan(0);
      expect(step.stats.pagesWritten).toBeLessThan(chain.preDump1.stats.pagesWritten / 2);
    }
    expect(chain.preDump2.parent).toBe(chain.preDump1.imagesDir);
    expect(chain.finalDump.parent).toBe(chain.preDump2.imagesDir);
    // Same process, same state: its check counter continues, and every page holds what it should.
    expect(chain.restore.pid).toBe(chain.pid);
    expect(chain.verifyAfter).toMatchObject({ pid: chain.pid, ok: true, bad: 0, pages, check: chain.verifyBefore.check + 1 });
    expect(chain.verifyAfter.rounds).toBeGreaterThan(chain.verifyBefore.rounds);
  });

  test('ferry inspect on the host reads the returned chain as three consistent layers', () => {
    const info = ferryJson<{ consistent: boolean; problems: string[]; rootPid: number; layers: Array<{ kind: string; pagesPresent: number; pagesInParent: number }> }>([
      'inspect',
      path.join(chainDir, 'final'),
    ]);
    expect(info.problems).toEqual([]);
    expect(info.consistent).toBe(true);
    expect(info.rootPid).toBe(chain.pid);
    expect(info.layers.map((l) => l.kind)).toEqual(['pre-dump', 'pre-dump', 'dump']);
    expect(info.layers[2]!.pagesInParent).toBeGreaterThan(0);
  });

  test('a final dump pointing at the wrong parent fails ferry\'s chain check', () => {
    const wrong = path.join(work, 'wrong');
    fs.cpSync(chainDir, wrong, { recursive: true, verbatimSymlinks: true });
    fs.rmSync(path.join(wrong, 'final', 'parent'));
    fs.symlinkSync('../pre1', path.join(wrong, 'final', 'parent'));
    const r = ferry(['inspect', path.join(wrong, 'final'), '--json']);
    expect(r.status).toBe(1);
    const info = JSON.parse(r.stdout) as { consistent: boolean; problems: string[] };
    expect(info.consistent).toBe(false);
    expect(info.problems.join('\n')).toMatch(/not the latest pre-dump/);
  });

  test('the wrong parent is caught by the layer fingerprint even when the skipped pre-dump is gone', () => {
    // Only pre-dump 1 and the final dump, relinked: no sibling betrays the skipped pre-dump 2, so
    // only the parent fingerprint ferry wrote into the final layer (ferry-layer.json) can tell.
    const alone = path.join(work, 'wrong-alone');
    fs.mkdirSync(alone);
    fs.cpSync(path.join(chainDir, 'pre1'), path.join(alone, 'pre1'), { recursive: true, verbatimSymlinks: true });
    fs.cpSync(path.join(chainDir, 'final'), path.join(alone, 'final'), { recursive: true, verbatimSymlinks: true });
    fs.rmSync(path.join(alone, 'final', 'parent'));
    fs.symlinkSync('../pre1', path.join(alone, 'final', 'parent'));
    const r = ferry(['inspect', path.join(alone, 'final'), '--json']);
    expect(r.status).toBe(1);
    const info = JSON.parse(r.stdout) as { consistent: boolean; problems: string[] };
    expect(info.consistent).toBe(false);
    expect(info.problems.join('\n')).toMatch(/dumped against a different parent/);
  });

  test('push to MinIO and pull back byte for byte; boot 2 refuses the wrong chain and restores the pulled one intact', () => {
    const pushedDoc = ferryJson<{ layers: number; complete: boolean }>(['push', path.join(chainDir, 'final'), '--checkpoint', checkpoint]);
    pushed = true;
    expect(pushedDoc).toMatchObject({ layers: 3, complete: true });

    const boot2 = path.join(work, 'boot2');
    fs.mkdirSync(boot2);
    fs.copyFileSync(path.join(boot1, 'workload'), path.join(boot2, 'workload'));
    const pulled = ferryJson<{ layerDirs: string[]; finalDir: string }>(['pull', checkpoint, '--into', path.join(boot2, 'pulled')]);
    expect(pulled.layerDirs).toHaveLength(3);
    ['pre1', 'pre2', 'final'].forEach((name, i) => {
      const original = layerFiles(path.join(chainDir, name));
      const copy = layerFiles(pulled.layerDirs[i]!);
      expect([...copy.keys()].sort()).toEqual([...original.keys()].sort());
      for (const [file, bytes] of original) expect(copy.get(file)!.equals(bytes)).toBe(true);
      if (i > 0) expect(fs.realpathSync(path.join(pulled.layerDirs[i]!, 'parent'))).toBe(fs.realpathSync(pulled.layerDirs[i - 1]!));
    });

    // The negative control, as the second boot sees it: pulled chain, final dump relinked to layer 0.
    const wrong = path.join(boot2, 'wrong');
    fs.cpSync(path.join(boot2, 'pulled'), wrong, { recursive: true, verbatimSymlinks: true });
    fs.rmSync(path.join(wrong, 'layer-2', 'parent'));
    fs.symlinkSync('../layer-0', path.join(wrong, 'layer-2', 'parent'));
    const job = {
      tasks: [
        {
          kind: 'restore',
          pid: chain.pid,
          goodChain: 'pulled',
          goodFinal: path.relative(path.join(boot2, 'pulled'), pulled.finalDir),
          wrongChain: 'wrong',
          wrongFinal: 'layer-2',
          proveStale: false,
        },
      ],
    };
    fs.writeFileSync(path.join(boot2, 'job.json'), JSON.stringify(job));
    boot(guest, boot2);
    const restored = taskValue<{ wrongChain: { exit: number; stderr: string; pidRunningAfter: boolean }; restore: { pid: number }; verify: Verify }>(boot2, 'restore');
    expect(restored.wrongChain.exit).toBe(1);
    expect(restored.wrongChain.stderr).toMatch(/not the latest pre-dump/);
    expect(restored.wrongChain.pidRunningAfter).toBe(false);
    expect(restored.restore.pid).toBe(chain.pid);
    // The pulled chain is the state at the final dump: one check had run before it.
    expect(restored.verify).toMatchObject({ pid: chain.pid, ok: true, bad: 0, pages: chain.verifyBefore.pages, check: chain.verifyBefore.check + 1 });
  }, SUITE_TIMEOUT_MS);
});
