/**
 * src/criu/binary.ts running stand-in executables (shell scripts printing what CRIU prints), for
 * the cases a healthy machine cannot show: old versions, failing checks, hangs. The parsers alone
 * are in test/unit/criu-binary.test.ts; the real CRIU is exercised by test/integration/stack.test.ts.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveCriu, runCriuCheck, CriuVersionError, CriuCheckError } from '../../src/criu/binary';
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

const fakeCriu = (version: string, checkScript: string): Promise<string> => writeCriuStandIn(tmp, version, checkScript);

describe('versions', () => {
  it('passes --feature through and rejects names that are not feature names', async () => {
    const file = await fakeCriu('4.1.1', '[ "$2" = --feature ] && echo "$3 is not supported" && exit 1');
    const r = await runCriuCheck(file, { feature: 'mem_dirty_track' });
    expect(r).toMatchObject({ ok: false, feature: 'mem_dirty_track', summary: 'mem_dirty_track is not supported' });
    expect(isError(await rejection(runCriuCheck(file, { feature: '--all; rm' })), CriuCheckError)).toBe(true);
  });

  it('bounds a check that hangs', async () => {
    const file = await fakeCriu('4.1.1', 'exec sleep 30');
    const err = await rejection(runCriuCheck(file, { timeoutMs: 300 }));
    expect(isError(err, CriuCheckError)).toBe(true);
    expect(err.message).toContain('300 ms');
  });
});

describe('locating and checking the binary', () => {
  it('refuses a CRIU older than 4.1, saying which version it found', async () => {
    const file = await fakeCriu('3.17.1', 'exit 0');
    const err = await rejection(resolveCriu(file));
    expect(isError(err, CriuVersionError)).toBe(true);
    expect(err.message).toContain('3.17.1');
    expect(err.message).toContain('>= 4.1');
  });

  it('refuses a binary that is not CRIU', async () => {
    const file = path.join(tmp, 'notcriu');
    await fs.writeFile(file, '#!/bin/sh\necho hello\n', { mode: 0o755 });
    const err = await rejection(resolveCriu(file));
    expect(isError(err, CriuVersionError)).toBe(true);
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
});
