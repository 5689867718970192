/**
 * ferry's layer record and the log-tail selection, on images and logs written by real CRIU here.
 * This kernel cannot pre-dump (no soft-dirty), so real chains with pre-dumps exist only in the lab;
 * the wrong-parent case is built from real full dumps by copying them and relinking `parent`,
 * which is exactly what the check must see through. Fails, not skips, when CRIU is missing.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  checkCriu,
  dump,
  LAYER_RECORD_FILE,
  LAYER_RECORD_FORMAT,
  readChain,
  readInventory,
  readLayerRecord,
  readProcessIdentity,
  restore,
  type FerryLayerRecord,
} from '../../src/criu';
import { fingerprintLayer, writeLayerRecord } from '../../src/criu/layer-record';
import { Workload } from '../fixtures/workload/workload';
import { isError, CriuFailedError } from '../../src/core';

let tmp: string;
const workloads: Workload[] = [];
const strayPids: number[] = [];

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-rec-it-'));
  await checkCriu(); // throws (fails the suite) when CRIU is absent or too old
});

afterAll(async () => {
  for (const w of workloads) await w.stop();
  for (const pid of strayPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

function recordOf(dir: string): FerryLayerRecord {
  const read = readLayerRecord(dir);
  if (read === null || 'problem' in read) throw new Error(`no usable record in ${dir}: ${JSON.stringify(read)}`);
  return read.record;
}

function alive(pid: number): boolean {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('layer record on real dumps', () => {
  it('every dump carries its record (0600), and a dump with it restores with memory intact', async () => {
    const w = await Workload.start({ mib: 8, dirtyPermille: 10, intervalMs: 50, dir: fs.mkdtempSync(path.join(tmp, 'wl-')) });
    workloads.push(w);
    const id = await readProcessIdentity(w.pid);
    const imagesDir = path.join(tmp, 'full');
    const result = await dump({ pid: w.pid, imagesDir });
    expect(result.warnings).toBeUndefined();
    const file = path.join(imagesDir, LAYER_RECORD_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const rec = recordOf(imagesDir);
    expect(rec).toEqual({ format: LAYER_RECORD_FORMAT, kind: 'dump', process: id, dumpUptimeUs: readInventory(imagesDir).dumpUptimeUs, parent: null });
    expect(readChain(imagesDir).parentChecks).toEqual(['none']);
    // CRIU ignores the file it does not know: the restore works with it present.
    const restored = await restore({ imagesDir });
    expect(restored.pid).toBe(w.pid);
    expect(fs.existsSync(file)).toBe(true);
    expect(await w.verify()).toMatchObject({ ok: true, bad: 0 });
  });

  it('a relinked copy of real dumps is caught by the parent fingerprint', async () => {
    const w = await Workload.start({ mib: 8, dirtyPermille: 10, intervalMs: 50, dir: fs.mkdtempSync(path.join(tmp, 'wl-')) });
    workloads.push(w);
    const a = (await dump({ pid: w.pid, imagesDir: path.join(tmp, 'real-a'), leaveRunning: true })).imagesDir;
    const b = (await dump({ pid: w.pid, imagesDir: path.join(tmp, 'real-b'), leaveRunning: true })).imagesDir;
    const c = (await dump({ pid: w.pid, imagesDir: path.join(tmp, 'real-c'), leaveRunning: true })).imagesDir;
    // Full dumps without memory tracking record no dump_uptime: only the hashes can tell them apart
    // here (in the lab every layer has one, and it differs too).
    const ub = readInventory(b).dumpUptimeUs;

    // The copy: a and b next to each other elsewhere... then c recorded as dumped against b (what the
    // driver writes for `dump --prev-images-dir b`, which this kernel cannot run).
    const copy = path.join(tmp, 'copy');
    fs.mkdirSync(copy);
    for (const [src, name] of [[a, 'a'], [b, 'b'], [c, 'c']] as const) fs.cpSync(src, path.join(copy, name), { recursive: true });
    const cc = path.join(copy, 'c');
    const own = recordOf(cc);
    fs.rmSync(path.join(cc, LAYER_RECORD_FILE));
    writeLayerRecord(cc, { ...own, parent: fingerprintLayer(path.join(copy, 'b'), ub, w.pid, own.process.bootId) });
    fs.symlinkSync('../b', path.join(cc, 'parent'));
    const good = readChain(cc);
    expect(good.parentChecks).toEqual(['none', 'verified']);
    expect(good.problems.join('\n')).not.toMatch(/different parent/);

    // Relinked to a, with b removed: nothing next to a says a layer was skipped.
    fs.rmSync(path.join(copy, 'b'), { recursive: true });
    fs.rmSync(path.join(cc, 'parent'));
    fs.symlinkSync('../a', path.join(cc, 'parent'));
    const wrong = readChain(cc);
    expect(wrong.consistent).toBe(false);
    expect(wrong.parentChecks).toEqual(['none', 'mismatch']);
    expect(wrong.problems).toContainEqual(
      expect.stringMatching(
        new RegExp(`^layer ${cc} was dumped against a different parent than the one its parent link points to \\(${path.join(copy, 'a')}\\): ` +
          `(dump uptime \\d+ us expected, \\d+ us found; )?inventory.img sha256 [0-9a-f]{12} expected, [0-9a-f]{12} found`),
      ),
    );
  });
});

describe("restore failure names CRIU's real cause", () => {
  it('a file the process holds open grew after the dump: the message says "has bad size"', async () => {
    // A tiny process of our own that keeps a regular file open (the workload keeps none open by design).
    // Read-only on purpose: CRIU skips the size check for files opened O_WRONLY|O_APPEND (logs).
    const held = path.join(tmp, 'held-file');
    fs.writeFileSync(held, 'x'.repeat(4096));
    const pid = Number(
      execFileSync('sh', ['-c', 'setsid sh -c \'exec 3<"$0"; exec sleep 300\' "$1" </dev/null >/dev/null 2>&1 & echo $!', 'sh', held]).toString().trim(),
    );
    strayPids.push(pid);
    const deadline = Date.now() + 10000;
    // Wait until the shell has exec'd sleep with the file on fd 3.
    while (Date.now() < deadline && !(fs.existsSync(`/proc/${pid}/fd/3`) && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep')) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(fs.readlinkSync(`/proc/${pid}/fd/3`)).toBe(held);
    const imagesDir = path.join(tmp, 'held-dump');
    await dump({ pid, imagesDir });
    fs.appendFileSync(held, 'y'.repeat(4096));
    const err = await restore({ imagesDir }, { pidWaitMs: 10000 }).then(
      () => new Error('restore succeeded although the file changed size'),
      (e: unknown) => e as Error,
    );
    expect(isError(err, CriuFailedError)).toBe(true);
    expect(err.message).toMatch(/^CRIU RESTORE failed: (\d+: )?Error \([^)]*\): File .*held-file has bad size 8192 \(expect 4096\)/);
    const tail = (err as CriuFailedError).logTail;
    expect(tail[0]).toMatch(/has bad size/);
    // What made this worth fixing: the cause is not CRIU's last error, so a plain tail would miss it.
    const logErrors = fs.readFileSync(path.join(imagesDir, 'restore.log'), 'utf8').split('\n').filter((l) => l.includes('Error ('));
    expect(logErrors.at(-1)).not.toMatch(/has bad size/);
    // The restore rolled back: nothing runs under that pid.
    expect(alive(pid)).toBe(false);
  });
});
