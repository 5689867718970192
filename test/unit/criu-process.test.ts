import { execFileSync, spawn } from 'node:child_process';
import {
  criuErrorKind,
  isNoSuchProcessError,
  isProcessChangedError,
  isRefusedTargetError,
  NoSuchProcessError,
  PERMANENT_CRIU_ERROR_KINDS,
  RefusedTargetError,
} from '../../src/criu/errors';
import { checkTarget, ownProcessTree, parseProcStat, readProcessIdentity } from '../../src/criu/process';

function refusal(pid: number, expected?: Parameters<typeof checkTarget>[1]): unknown {
  try {
    checkTarget(pid, expected);
  } catch (err) {
    return err;
  }
  return null;
}

describe('/proc parsing', () => {
  it('parses a stat line whose command holds spaces and parentheses', () => {
    const line = '4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10';
    expect(parseProcStat(line)).toEqual({ pid: 4242, comm: 'my (odd) prog', state: 'S', ppid: 1, flags: 4194560, startTime: 98765 });
  });

  it('rejects a malformed line', () => {
    expect(() => parseProcStat('garbage')).toThrow(/unexpected \/proc stat format/);
  });
});

describe('process identity and target checks', () => {
  let daemon: number;
  beforeAll(() => {
    daemon = Number(execFileSync('sh', ['-c', 'sleep 60 >/dev/null 2>&1 & echo $!']).toString().trim());
  });
  afterAll(() => {
    try {
      process.kill(daemon, 'SIGKILL');
    } catch {
      // gone
    }
  });

  it('identifies a process by pid, start time and boot id', async () => {
    const id = await readProcessIdentity(daemon);
    expect(id.pid).toBe(daemon);
    expect(id.comm).toBe('sleep');
    expect(id.startTime).toBeGreaterThan(0);
    expect(id.bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(checkTarget(daemon)).toEqual(id);
    expect(checkTarget(daemon, id)).toEqual(id);
  });

  it('refuses a recycled pid (same pid, other start time)', async () => {
    const id = await readProcessIdentity(daemon);
    const err = refusal(daemon, { ...id, startTime: id.startTime - 1 });
    expect(isProcessChangedError(err)).toBe(true);
    expect((err as Error).message).toMatch(/pid was recycled/);
    expect(isProcessChangedError(refusal(daemon, { ...id, bootId: 'other-boot' }))).toBe(true);
  });

  it('refuses pid 1, a kernel thread, and a pid that does not exist', () => {
    expect((refusal(1) as RefusedTargetError).reason).toBe('init');
    expect((refusal(2) as RefusedTargetError).reason).toBe('kernel-thread');
    const err = refusal(4194304 - 1);
    expect(isNoSuchProcessError(err)).toBe(true);
    expect((err as Error).message).toMatch(/no process with pid 4194303/);
  });

  it("refuses ferry's own process, its ancestors and its children", async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const tree = ownProcessTree();
      expect(tree.has(process.ppid)).toBe(true);
      for (const pid of [process.pid, process.ppid, child.pid!]) {
        const err = refusal(pid);
        expect(isRefusedTargetError(err)).toBe(true);
        expect((err as RefusedTargetError).reason).toBe('own-tree');
      }
      expect(tree.has(daemon)).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('error kinds', () => {
  it('maps errors to stable kinds, also after serialisation', () => {
    const err = new NoSuchProcessError(12);
    expect(criuErrorKind(err)).toBe('no-such-process');
    expect(criuErrorKind(JSON.parse(JSON.stringify({ name: err.name, message: err.message })))).toBe('no-such-process');
    expect(isNoSuchProcessError({ name: 'NoSuchProcessError' })).toBe(true);
    expect(criuErrorKind(new Error('x'))).toBeNull();
    expect(criuErrorKind('NoSuchProcessError')).toBeNull();
    expect(PERMANENT_CRIU_ERROR_KINDS.has('refused-target')).toBe(true);
    expect(PERMANENT_CRIU_ERROR_KINDS.has('criu-failed')).toBe(false);
  });
});
