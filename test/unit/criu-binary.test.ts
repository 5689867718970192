/**
 * src/criu/binary.ts without running anything: parsing `criu --version` and `criu check` output,
 * and finding the binary. Running stand-ins for CRIU (old versions, failing checks, hangs) is in
 * test/integration/criu-binary.test.ts; the real CRIU is exercised by test/integration/stack.test.ts.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compareVersions, criuEnvironment, locateCriu, parseCriuCheckOutput, parseCriuVersion, CriuNotFoundError } from '../../src/criu/binary';
import { writeCriuStandIn } from '../helpers/criu-stand-in';
import { rejection } from '../helpers/rejection';
import { isError } from '../../src/core';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-criu-bin-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

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

describe('locating the binary', () => {
  it('looks names up on PATH and takes paths as they are', async () => {
    const file = await writeCriuStandIn(tmp, '4.1.1', 'echo "Looks good." >&2');
    expect(await locateCriu('criu', { PATH: `/nonexistent:${tmp}` })).toBe(file);
    expect(await locateCriu(file, {})).toBe(file);
    const err = await rejection(locateCriu('criu', { PATH: '/nonexistent' }));
    expect(isError(err, CriuNotFoundError)).toBe(true);
    expect(err.message).toContain('FERRY_CRIU');
  });
});

describe('the environment CRIU runs in', () => {
  it('runs CRIU without hardware breakpoints unless the user chose a CRIU_FAULT', () => {
    expect(criuEnvironment({ PATH: '/bin' })).toEqual({ PATH: '/bin', CRIU_FAULT: '130' });
    expect(criuEnvironment({ PATH: '/bin', CRIU_FAULT: '129' })).toEqual({ PATH: '/bin', CRIU_FAULT: '129' });
  });

  test('CRIU gets no secrets: only the search path, locale, temp dir, home and CRIU_* of the worker', () => {
    const env = criuEnvironment({
      PATH: '/usr/bin',
      LANG: 'C.UTF-8',
      LC_ALL: 'C',
      HOME: '/root',
      CRIU_LIBS_DIR: '/usr/lib/criu',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI',
      AWS_ACCESS_KEY_ID: 'AKIA',
      FERRY_ENCRYPTION_KEY: 'base64key',
      FERRY_S3_SECRET_ACCESS_KEY: 'secret',
    });
    expect(env).toEqual({ PATH: '/usr/bin', LANG: 'C.UTF-8', LC_ALL: 'C', HOME: '/root', CRIU_LIBS_DIR: '/usr/lib/criu', CRIU_FAULT: '130' });
  });
});
