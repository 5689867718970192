/**
 * infra/systemd/ferry-worker.service is a unit systemd accepts: `systemd-analyze verify` on it, with
 * ExecStart pointed at this checkout's bin/ferry.js (the packaged path does not exist here), finds
 * nothing to say. A missing systemd-analyze fails the test: CI has it (Debian's systemd package).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const UNIT = path.join(ROOT, 'infra', 'systemd', 'ferry-worker.service');

function verify(text: string): { status: number | null; output: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-unit-'));
  try {
    const file = path.join(dir, 'ferry-worker.service');
    fs.writeFileSync(file, text);
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    if (r.error) throw r.error;
    return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const unit = fs.readFileSync(UNIT, 'utf8');

it('passes systemd-analyze verify without a warning', () => {
  expect(unit).toMatch(/^ExecStart=\/usr\/local\/bin\/ferry worker --host %H$/m);
  const result = verify(unit.replace('/usr/local/bin/ferry', path.join(ROOT, 'bin', 'ferry.js')));
  expect(result).toEqual({ status: 0, output: '' });
});

it('the check can fail: a misspelt key is reported', () => {
  const result = verify(unit.replace('/usr/local/bin/ferry', path.join(ROOT, 'bin', 'ferry.js')).replace('KillSignal=', 'KilSignal='));
  expect(result.output).toMatch(/Unknown key 'KilSignal'/);
});

it('stops the worker the way it stops cleanly, and keeps images private', () => {
  expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
  expect(unit).toMatch(/^UMask=0077$/m);
  expect(unit).toMatch(/^EnvironmentFile=\/etc\/ferry\/worker\.env$/m);
  expect(unit).not.toMatch(/^NoNewPrivileges=/m);
});
