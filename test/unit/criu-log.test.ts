import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mainCause, readLogTail } from '../../src/criu/criu-log';
import { CriuFailedError, PidInUseError } from '../../src/core';

describe("CRIU's log", () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-log-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('keeps the error lines, drops the RLIMIT noise and the timestamps, and finds the cause', () => {
    const file = path.join(tmp, 'dump.log');
    fs.writeFileSync(
      file,
      [
        "(00.000010) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted",
        '(00.001000) Warn  (compel/arch/x86/src/lib/infect.c:418): Will restore 4859 with interrupted system call',
        '(00.002000) Error (criu/pstree.c:300): The root process 4859 is not a session leader. Consider using --shell-job option',
        '(00.003000) Error (criu/cr-dump.c:2111): Dumping FAILED.',
        '',
      ].join('\n'),
    );
    const tail = readLogTail(file);
    expect(tail).toEqual([
      'Error (criu/pstree.c:300): The root process 4859 is not a session leader. Consider using --shell-job option',
      'Error (criu/cr-dump.c:2111): Dumping FAILED.',
    ]);
    expect(mainCause(tail)).toMatch(/not a session leader/);
  });

  it('falls back to the last lines when nothing was logged as an error, and to nothing without a log', () => {
    const file = path.join(tmp, 'restore.log');
    fs.writeFileSync(file, 'a\nb\nc\n');
    expect(readLogTail(file, 2)).toEqual(['b', 'c']);
    expect(readLogTail(path.join(tmp, 'missing.log'))).toEqual([]);
  });

  it('puts the first error that names a known cause before the last lines, and makes it the cause', () => {
    const file = path.join(tmp, 'restore.log');
    fs.writeFileSync(
      file,
      [
        "(00.000010) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted",
        '(00.010000) Error (criu/files-reg.c:2160): File tmp/wl/held has bad size 8192 (expect 4096)',
        ...Array.from({ length: 8 }, (_, i) => `(00.02000${i}) Error (criu/cr-restore.c:${1500 + i}): later consequence ${i}`),
        '(00.030000) Error (criu/cr-restore.c:2397): 172 killed by signal 9: Killed',
        '(00.040000) Error (criu/cr-restore.c:2700): Restoring FAILED.',
        '',
      ].join('\n'),
    );
    const tail = readLogTail(file);
    expect(tail).toHaveLength(6);
    expect(tail[0]).toBe('Error (criu/files-reg.c:2160): File tmp/wl/held has bad size 8192 (expect 4096)');
    expect(tail.slice(-2)).toEqual(['Error (criu/cr-restore.c:2397): 172 killed by signal 9: Killed', 'Error (criu/cr-restore.c:2700): Restoring FAILED.']);
    expect(mainCause(tail)).toMatch(/has bad size/);
  });

  it('without a known cause, puts the first specific error first and takes the last specific one as the cause', () => {
    const file = path.join(tmp, 'dump.log');
    const lines = ['(00.1) Error (a.c:1): first odd thing', ...Array.from({ length: 7 }, (_, i) => `(00.2) Error (b.c:${i}): odd ${i}`), '(00.3) Error (c.c:1): Dumping FAILED.'];
    fs.writeFileSync(file, lines.join('\n'));
    const tail = readLogTail(file, 4);
    expect(tail).toEqual(['Error (a.c:1): first odd thing', 'Error (b.c:5): odd 5', 'Error (b.c:6): odd 6', 'Error (c.c:1): Dumping FAILED.']);
    expect(mainCause(tail)).toBe('Error (b.c:6): odd 6');
  });

  it('reads only the end of a huge log', () => {
    const file = path.join(tmp, 'big.log');
    fs.writeFileSync(file, 'x'.repeat(1024 * 1024) + '\n(01.000000) Error (criu/mem.c:45): BUG\n');
    expect(readLogTail(file)).toEqual(['Error (criu/mem.c:45): BUG']);
  });
});

describe('error messages', () => {
  it('say what happened, to what, and what to do next', () => {
    const zombie = new PidInUseError(42, { comm: 'workload', state: 'Z', ppid: 7 }, 5000);
    expect(zombie.message).toMatch(/cannot restore pid 42: it is still held by a zombie process workload .* after waiting 5000 ms; its parent \(pid 7\) has not reaped it/);
    const failed = new CriuFailedError('DUMP', 3, ['Error (a): x', 'Error (b): Dumping FAILED.'], '/d/dump.log', 'Retry.', { mainCause: 'Error (a): x' });
    expect(failed.message).toBe('CRIU DUMP failed errno 3: Error (a): x (full log: /d/dump.log). Retry.');
    expect(failed.kind).toBe('criu-failed');
  });
});
