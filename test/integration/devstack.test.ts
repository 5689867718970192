/**
 * Dev stack building blocks on real processes (no Temporal or MinIO needed): stopping a recorded
 * process with SIGTERM or SIGKILL, and `status` of a record whose process is gone. The rest of the
 * dev stack's pieces are in test/unit/devstack.test.ts; the stack itself in stack.test.ts.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/config';
import { identifyProcess, isRecordedProcessAlive, stopRecordedProcess, type ProcessRecord } from '../../src/devstack/process';
import { devStatus } from '../../src/devstack/stack';
import { readState, writeState } from '../../src/devstack/state';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-devstack-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** A detached child (own process group), the way the dev stack starts its components. */
async function startChild(script: string): Promise<ProcessRecord> {
  const child = spawn('bash', ['-c', script], { detached: true, stdio: 'ignore' });
  await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
  child.unref();
  const record = await identifyProcess(child.pid as number);
  if (!record) throw new Error('child exited at once');
  return record;
}

describe('process identity', () => {
  it('stops a process with SIGTERM', async () => {
    const record = await startChild('exec sleep 60');
    expect(await stopRecordedProcess(record, 5000)).toBe('stopped');
    expect(await isRecordedProcessAlive(record)).toBe(false);
  });

  it('falls back to SIGKILL for a process that ignores SIGTERM', async () => {
    const ready = path.join(tmp, 'ready');
    const record = await startChild(`trap "" TERM; touch ${ready}; while :; do sleep 0.1; done`);
    // The trap must be in place before the signal, or SIGTERM alone ends it.
    const deadline = Date.now() + 10_000;
    while (!(await fs.access(ready).then(() => true, () => false))) {
      if (Date.now() > deadline) throw new Error('child never became ready');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await stopRecordedProcess(record, 300, 5000)).toBe('killed');
    expect(await isRecordedProcessAlive(record)).toBe(false);
  });
});

describe('up/status preflight', () => {
  it('status reports a record whose process is gone as stale, without touching it', async () => {
    const config = loadConfig({ HOME: tmp, FERRY_STATE_DIR: path.join(tmp, 'state') });
    const record = await startChild('exec sleep 60');
    await stopRecordedProcess(record);
    const state = {
      version: 1 as const,
      components: {
        temporal: { ...record, component: 'temporal' as const, command: ['temporal'], address: 'a', uiAddress: 'u', dataPath: 'd', logFile: 'l', startedAt: '' },
      },
    };
    await writeState(config.dev.dir, state);
    const status = await devStatus(config);
    expect(status.components[0]).toMatchObject({ component: 'temporal', state: 'stopped', staleRecord: true, pid: null });
    expect(await readState(config.dev.dir)).toEqual(state);
  });
});
