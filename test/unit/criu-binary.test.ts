/**
 * src/criu/binary.ts against stand-in executables (shell scripts printing what CRIU prints), for
 * the cases a healthy machine cannot show: old versions, failing checks, hangs. The real CRIU is
 * exercised by test/integration/stack.test.ts.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  compareVersions,
  criuEnvironment,
  isCriuCheckError,
  isCriuNotFoundError,
  isCriuVersionError,
  locateCriu,
  parseCriuCheckOutput,
  parseCriuVersion,
  resolveCriu,
  runCriuCheck,
} from '../../src/criu/binary';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-criu-bin-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function fakeCriu(version: string, checkScript: string, name = 'criu'): Promise<string> {
  const file = path.join(tmp, name);
  await fs.writeFile(
    file,
    `#!/bin/sh\ncase "$1" in\n  --version) echo "Version: ${version}"; echo "GitID: v${version}";;\n  check) ${checkScript};;\n  *) exit 9;;\nesac\n`,
    { mode: 0o755 },
  );
  return file;
}

async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

describe('versions', () => {
  it('parses `criu --version`', () => {
    expect(parseCriuVersion('Version: 4.1.1\nGitID: v4.1.1\n')).toBe('4.1.1');
    expect(parseCriuVersion('Version: 3.17\n')).toBe('3.17');
    expect(parseCriuVersion('criu: unknown option')).toBeNull();
  });

  it('compares dotted versions numerically', () => {
    expect(compareVersions('4.1.1', '4.1')).toBeGreaterThan(0);
    expect(compareVersions('4.1', '4.1.0')).toBe(0);
    expect(compareVersions('3.17.1', '4.1')).toBeLessThan(0);
    expect(compareVersions('4.10', '4.9')).toBeGreaterThan(0);
  });
});

describe('criu check output', () => {
  it('success, with warnings kept apart', () => {
    const r = parseCriuCheckOutput(0, 'Warn  (criu/cr-check.c:1230): Dirty tracking is OFF\nLooks good.\n');
    expect(r).toEqual({ ok: true, summary: 'Looks good.', warnings: ['Warn  (criu/cr-check.c:1230): Dirty tracking is OFF'], errors: [] });
  });

  it('failure names the last error', () => {
    const r = parseCriuCheckOutput(1, 'Error (criu/vdso.c:99): vdso: Unexpected rt vDSO area bounds\n');
    expect(r.ok).toBe(false);
    expect(r.summary).toBe('Error (criu/vdso.c:99): vdso: Unexpected rt vDSO area bounds');
    expect(r.errors).toHaveLength(1);
  });

  it('a --feature answer is the verdict', () => {
    expect(parseCriuCheckOutput(1, 'mem_dirty_track is not supported\n').summary).toBe('mem_dirty_track is not supported');
  });
});

describe('locating and checking the binary', () => {
  it('looks names up on PATH and takes paths as they are', async () => {
    const file = await fakeCriu('4.1.1', 'echo "Looks good." >&2');
    expect(await locateCriu('criu', { PATH: `/nonexistent:${tmp}` })).toBe(file);
    expect(await locateCriu(file, {})).toBe(file);
    const err = await rejection(locateCriu('criu', { PATH: '/nonexistent' }));
    expect(isCriuNotFoundError(err)).toBe(true);
    expect(err.message).toContain('FERRY_CRIU');
  });

  it('refuses a CRIU older than 4.1, saying which version it found', async () => {
    const file = await fakeCriu('3.17.1', 'exit 0');
    const err = await rejection(resolveCriu(file));
    expect(isCriuVersionError(err)).toBe(true);
    expect(err.message).toContain('3.17.1');
    expect(err.message).toContain('>= 4.1');
  });

  it('refuses a binary that is not CRIU', async () => {
    const file = path.join(tmp, 'notcriu');
    await fs.writeFile(file, '#!/bin/sh\necho hello\n', { mode: 0o755 });
    const err = await rejection(resolveCriu(file));
    expect(isCriuVersionError(err)).toBe(true);
    expect(err).toMatchObject({ version: null });
  });

  it('reports a passing check', async () => {
    const file = await fakeCriu('4.1.1', 'echo "Looks good." >&2');
    const r = await runCriuCheck(file);
    expect(r).toMatchObject({ ok: true, exitCode: 0, summary: 'Looks good.', binary: { path: file, version: '4.1.1' } });
  });

  it('reports a failing check as a result, not an exception', async () => {
    const file = await fakeCriu('4.1.1', 'echo "Error (criu/kerndat.c:1): kerndat_init failed" >&2; exit 1');
    const r = await runCriuCheck(file);
    expect(r.ok).toBe(false);
    expect(r.exitCode).toBe(1);
    expect(r.summary).toContain('kerndat_init failed');
  });

  it('passes --feature through and rejects names that are not feature names', async () => {
    const file = await fakeCriu('4.1.1', '[ "$2" = --feature ] && echo "$3 is not supported" && exit 1');
    const r = await runCriuCheck(file, { feature: 'mem_dirty_track' });
    expect(r).toMatchObject({ ok: false, feature: 'mem_dirty_track', summary: 'mem_dirty_track is not supported' });
    expect(isCriuCheckError(await rejection(runCriuCheck(file, { feature: '--all; rm' })))).toBe(true);
  });

  it('bounds a check that hangs', async () => {
    const file = await fakeCriu('4.1.1', 'exec sleep 30');
    const err = await rejection(runCriuCheck(file, { timeoutMs: 300 }));
    expect(isCriuCheckError(err)).toBe(true);
    expect(err.message).toContain('300 ms');
  });

  it('runs CRIU without hardware breakpoints unless the user chose a CRIU_FAULT', () => {
    expect(criuEnvironment({ PATH: '/bin' })).toEqual({ PATH: '/bin', CRIU_FAULT: '130' });
    expect(criuEnvironment({ PATH: '/bin', CRIU_FAULT: '129' })).toEqual({ PATH: '/bin', CRIU_FAULT: '129' });
  });
});
