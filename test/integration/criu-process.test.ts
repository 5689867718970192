/**
 * Identity and target checks of src/criu/process.ts on real processes: a daemonized `sleep` as a
 * target ferry may take, this test's own tree as one it must refuse.
 */
import { execFileSync, spawn } from 'node:child_process';
import { RefusedTargetError, isError, NoSuchProcessError, ProcessChangedError } from '../../src/core';
import { checkTarget, descendantsOf, ownProcessTree, readDumpableBytes, readProcessIdentity } from '../../src/criu/process';

function refusal(pid: number, expected?: Parameters<typeof checkTarget>[1]): unknown {
  try {
    checkTarget(pid, expected);
  } catch (err) {
    return err;
  }
  return null;
}

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

  it('measures what a dump would write: the resident anonymous memory of the tree, children included', async () => {
    // A parent holding 48 MiB of written anonymous memory, and a child holding 24 MiB more.
    const hold = (mib: number) => `const b = Buffer.alloc(${mib} << 20, 1); setInterval(() => b[0]++, 1000);`;
    const child = spawn(process.execPath, ['-e', `${hold(48)} require('child_process').spawn(process.execPath, ['-e', ${JSON.stringify(hold(24))}], { stdio: 'inherit' }); console.log('up');`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise((resolve) => child.stdout!.once('data', resolve));
      const pid = child.pid!;
      // The grandchild allocates after it starts: wait until its memory shows up in the tree.
      let bytes = 0;
      for (let i = 0; i < 100 && bytes < 72 << 20; i++) {
        bytes = readDumpableBytes(pid) ?? 0;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(bytes).toBeGreaterThanOrEqual(72 << 20);
      // Node itself adds tens of MiB per process; far from 2x the buffers.
      expect(bytes).toBeLessThan(300 << 20);
      expect(readDumpableBytes(2 ** 22 + 12345)).toBeNull();
    } finally {
      for (const pid of descendantsOf(child.pid!)) process.kill(pid, 'SIGKILL');
      child.kill('SIGKILL');
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
    expect(isError(err, ProcessChangedError)).toBe(true);
    expect((err as Error).message).toMatch(/pid was recycled/);
    expect(isError(refusal(daemon, { ...id, bootId: 'other-boot' }), ProcessChangedError)).toBe(true);
  });

  it('refuses pid 1, a kernel thread, and a pid that does not exist', () => {
    expect((refusal(1) as RefusedTargetError).reason).toBe('init');
    expect((refusal(2) as RefusedTargetError).reason).toBe('kernel-thread');
    const err = refusal(4194304 - 1);
    expect(isError(err, NoSuchProcessError)).toBe(true);
    expect((err as Error).message).toMatch(/no process with pid 4194303/);
  });

  it("refuses ferry's own process, its ancestors and its children", async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const tree = ownProcessTree();
      expect(tree.has(process.ppid)).toBe(true);
      for (const pid of [process.pid, process.ppid, child.pid!]) {
        const err = refusal(pid);
        expect(isError(err, RefusedTargetError)).toBe(true);
        expect((err as RefusedTargetError).reason).toBe('own-tree');
      }
      expect(tree.has(daemon)).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
