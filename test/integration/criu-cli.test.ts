/**
 * The tutorial's `ferry` commands against real CRIU: flags, --json documents, readable output and
 * exit codes. Most run in-process through main(); restore also runs as the real `ferry` command,
 * to show the restored process outlives the command (needs `npm run build`).
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ferryInProcess } from '../helpers/ferry-cli';
import { checkCriu } from '../../src/criu';
import { startShellJob } from '../fixtures/shell-job';
import { Workload } from '../fixtures/workload/workload';

const ROOT = path.resolve(__dirname, '..', '..');
let tmp: string;
let memTrack: boolean;
const workloads: Workload[] = [];

const ferry = ferryInProcess;

async function startWorkload(): Promise<Workload> {
  const w = await Workload.start({ mib: 16, dirtyPermille: 10, intervalMs: 50, dir: fs.mkdtempSync(path.join(tmp, 'wl-')) });
  workloads.push(w);
  return w;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-cli-it-'));
  memTrack = (await checkCriu()).features.memTrack;
});
afterAll(async () => {
  for (const w of workloads) await w.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('ferry check', () => {
  it('prints the CRIU version and features', async () => {
    const json = await ferry('check', '--json');
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout) as { version: string; features: { memTrack: boolean }; criuCheck: { ok: boolean } };
    expect(doc.version).toMatch(/^4\./);
    expect(doc.features.memTrack).toBe(memTrack);
    expect(doc.criuCheck.ok).toBe(true);
    const human = await ferry('check');
    expect(human.stdout).toMatch(memTrack ? /memory tracking \(soft-dirty\): +yes/ : /memory tracking \(soft-dirty\): +NO: pre-dumps are refused/);
  });
});

describe('ferry dump / inspect / restore', () => {
  it('dump --json prints the tutorial fields, inspect shows the layer, restore prints the pid', async () => {
    const w = await startWorkload();
    const dir = path.join(tmp, 'final-dump');
    const dumped = await ferry('dump', '--pid', String(w.pid), '--images-dir', dir, '--json');
    expect(dumped.stderr).toBe('');
    expect(dumped.code).toBe(0);
    const doc = JSON.parse(dumped.stdout) as Record<string, unknown> & { stats: Record<string, number> };
    expect(doc).toMatchObject({ pid: w.pid, imagesDir: dir, parent: null });
    expect(Object.keys(doc.stats).sort()).toEqual(['frozenTimeUs', 'memdumpTimeUs', 'pagesScanned', 'pagesSkippedParent', 'pagesWritten']);
    expect(doc.stats.pagesWritten).toBeGreaterThanOrEqual(4096);

    const inspected = await ferry('inspect', dir);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toContain(`1. dump     ${dir}`);
    expect(inspected.stdout).toContain(`pages written ${doc.stats.pagesWritten}, in parent 0`);
    expect(inspected.stdout).toMatch(/^consistent/m);
    expect(inspected.stdout).toMatch(/^ {6}first layer \(no parent\)$/m);
    expect(Object.keys(doc)).not.toContain('warnings');
    const inspectedJson = JSON.parse((await ferry('inspect', dir, '--json')).stdout) as { consistent: boolean; layers: Array<{ pagesPresent: number }>; parentChecks: string[] };
    expect(inspectedJson.consistent).toBe(true);
    expect(inspectedJson.parentChecks).toEqual(['none']);
    expect(inspectedJson.layers[0]!.pagesPresent).toBe(doc.stats.pagesWritten);

    const deadline = Date.now() + 10000;
    while (fs.existsSync(`/proc/${w.pid}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));

    // The real command, as a user runs it: it exits, the restored process stays.
    const entry = path.join(ROOT, 'dist', 'cli', 'main.js');
    expect(fs.existsSync(entry)).toBe(true); // run `npm run build` first
    const restored = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(ROOT, 'bin', 'ferry.js'), 'restore', '--images-dir', dir], (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(restored.stderr).toMatch(/restored from .*final-dump/);
    expect(restored.code).toBe(0);
    expect(restored.stdout.trim()).toBe(String(w.pid));
    expect(['R', 'S']).toContain(w.state());
    expect(await w.verify()).toMatchObject({ ok: true, bad: 0 });
  });

  it('a process whose session id is 0 (its leader outside its pid namespace) is refused, --shell-job or not, with a hint that says setsid', () => {
    // In a fresh pid namespace the first shell keeps the session of the outer one, so its background job
    // sees its session id as 0: what a process started under an init that never calls setsid sees too
    // (some CI runners).
    const dir = path.join(tmp, 'outer-session');
    const script =
      'sleep 120 >/dev/null 2>&1 & job=$!; ' +
      'node "$1" dump --pid $job --images-dir "$2/plain" --leave-running 2>&1; echo "plain=$?"; ' +
      'node "$1" dump --pid $job --images-dir "$2/shell-job" --leave-running --shell-job 2>&1; echo "shell-job=$?"; ' +
      'echo "state=$(cut -d" " -f3 /proc/$job/stat)"; kill -9 $job';
    const out = execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'bash', '-c', script, 'bash', path.join(ROOT, 'bin', 'ferry.js'), dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const text = out.toString();
    expect(text).toContain('plain=1');
    expect(text).toContain('shell-job=1');
    expect(text).toMatch(/state=[RS]/);
    // Both refusals name the cause and the one cure; neither suggests --shell-job, which cannot help here.
    const hints = text.match(/Its session id is 0 .*which CRIU cannot record, not even with --shell-job; start the process as the leader of its own session \(e\.g\. `setsid PROGRAM`\)/g);
    expect(hints).toHaveLength(2);
    expect(text).not.toContain('dump it as a shell job');
    expect(fs.readdirSync(path.join(dir, 'shell-job'))).toEqual(['dump.log']);
  });

  it('--shell-job dumps a background job of a shell, which is refused without it', async () => {
    const pid = startShellJob();
    try {
      const refused = await ferry('dump', '--pid', String(pid), '--images-dir', path.join(tmp, 'job-refused'), '--leave-running');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/session leader.*--shell-job/s);
      const r = await ferry('dump', '--pid', String(pid), '--images-dir', path.join(tmp, 'job'), '--leave-running', '--shell-job', '--json');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ pid, kind: 'dump', leftRunning: true });
      expect(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0]).toMatch(/[RS]/);
      // The final dump stops it; the readable output tells how to restore a shell job.
      const final = await ferry('dump', '--pid', String(pid), '--images-dir', path.join(tmp, 'job-final'), '--shell-job');
      expect(final.code).toBe(0);
      expect(final.stdout).toContain(`ferry restore --images-dir ${path.join(tmp, 'job-final')} --shell-job`);
    } finally {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // the final dump already stopped it
      }
    }
  });

  it('pre-dump follows the kernel: refused with an explanation without soft-dirty', async () => {
    const w = await startWorkload();
    const r = await ferry('pre-dump', '--pid', String(w.pid), '--images-dir', path.join(tmp, 'predump-1'));
    if (memTrack) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/pre-dump of pid \d+ \(workload\) written to/);
      return;
    }
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ferry: pre-dump refused: this kernel has no soft-dirty memory tracking \(CONFIG_MEM_SOFT_DIRTY/);
    expect(r.stderr).toMatch(/ferry dump --pid PID --images-dir DIR/);
    expect(w.maps().some((l) => l.includes('CRIUMFD'))).toBe(false);
    expect(['R', 'S']).toContain(w.state());
  });

  it('tells usage errors (exit 2) from refused operations (exit 1)', async () => {
    expect((await ferry('dump', '--pid', 'abc', '--images-dir', path.join(tmp, 'x'))).code).toBe(2);
    expect((await ferry('dump', '--pid', '123')).code).toBe(2);
    const init = await ferry('dump', '--pid', '1', '--images-dir', path.join(tmp, 'x'));
    expect(init.code).toBe(1);
    expect(init.stderr).toMatch(/refusing to checkpoint pid 1/);
    const missing = await ferry('inspect', path.join(tmp, 'nope'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no such directory/);
  });
});
