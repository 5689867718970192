/**
 * CRIU's resource options through ferry's tutorial commands, on a real process that needs one: a
 * process holding a flock. Without --file-locks CRIU refuses it and the process runs on; with it
 * the dump succeeds and records the option, and a restore without the flag applies it (the lock
 * is held again by the restored process).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readLayerRecord } from '../../src/criu';
import { ferryInProcess } from '../helpers/ferry-cli';
import { until } from '../helpers/until';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-criu-opts-'));
const started: number[] = [];

afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  fs.rmSync(root, { recursive: true, force: true });
});

/** Pids holding a flock on the file with this inode, from /proc/locks. */
function flockHolders(file: string): number[] {
  const inode = fs.statSync(file).ino;
  return fs
    .readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .filter((l) => /\bFLOCK\b/.test(l) && l.split(/\s+/)[5]?.endsWith(`:${inode}`))
    .map((l) => Number(l.split(/\s+/)[4]));
}

function alive(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
  } catch {
    return false;
  }
}

test('a process holding a flock: refused without --file-locks, dumped with it, restored with the lock by itself', async () => {
  const lockFile = path.join(root, 'app.lock');
  fs.writeFileSync(lockFile, '');
  // `flock FILE sleep` takes the lock and keeps it while sleep runs; setsid: no shell job.
  const child = spawn('setsid', ['flock', lockFile, 'sleep', '600'], { stdio: 'ignore', detached: true });
  child.unref();
  const holder = await until('flock to hold the lock', () => flockHolders(lockFile).find((pid) => pid > 0) ?? null, 10_000, 20);
  const pid = Number(fs.readFileSync(`/proc/${holder}/stat`, 'utf8').split(' ')[0]);
  started.push(pid);
  // The tree to dump is the lock holder's session leader: flock (whose child sleep inherits the fd).
  const leader = Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[3]);
  started.push(leader);

  const refused = await ferryInProcess('dump', '--pid', String(leader), '--images-dir', path.join(root, 'no-flag'));
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/file-locks/);
  expect(alive(leader)).toBe(true);

  const dumped = await ferryInProcess('dump', '--pid', String(leader), '--images-dir', path.join(root, 'with-flag'), '--file-locks', '--json');
  expect(dumped.code).toBe(0);
  const record = readLayerRecord(path.join(root, 'with-flag'));
  expect(record && 'record' in record ? record.record.criuOptions : null).toEqual({ fileLocks: true });
  await until(`pid ${leader} to be gone after the dump`, () => !alive(leader));

  const restored = await ferryInProcess('restore', '--images-dir', path.join(root, 'with-flag'), '--json');
  expect(restored.code).toBe(0);
  expect(JSON.parse(restored.stdout).pid).toBe(leader);
  expect(alive(leader)).toBe(true);
  // The lock is held again, by the restored tree.
  const holders = flockHolders(lockFile);
  expect(holders.some((p) => p === leader || p === pid)).toBe(true);
}, 120_000);
