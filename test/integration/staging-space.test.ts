/**
 * A staging disk too small for the dump is refused before CRIU runs, through the real worker
 * dependencies, real CRIU and a real full disk (a 24 MiB tmpfs as the staging dir): the dump
 * activity fails StagingSpaceLow (not retried) naming the numbers, the process keeps running with its memory
 * intact, and nothing is left in staging. The same activity on a disk with room dumps.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import type { FinalDumpInput, LayerDump } from '../../src/activities/types';
import type { ProcessIdentity } from '../../src/criu';
import { loadConfig } from '../../src/config/config';
import { createHostDependencies } from '../../src/worker/dependencies';
import { Workload, buildWorkload } from '../fixtures/workload/workload';
import { expectFailure } from '../helpers/storage-fixtures';

jest.setTimeout(120_000);
const MIB = 64;

let root: string;
let small: string;
let workload: Workload;

function activitiesOn(stagingDir: string, host: string): ReturnType<typeof createActivities> {
  const config = { ...loadConfig(), stagingDir };
  const deps = createHostDependencies(config, host);
  fs.mkdirSync(deps.stagingDir, { recursive: true, mode: 0o700 });
  return createActivities(deps);
}

beforeAll(async () => {
  buildWorkload();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-space-it-'));
  small = path.join(root, 'small');
  fs.mkdirSync(small);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0700', 'tmpfs', small]);
  workload = await Workload.start({ mib: MIB, dirtyPermille: 5, intervalMs: 100, dir: fs.mkdtempSync(path.join(root, 'wl-')) });
});

afterAll(async () => {
  await workload?.stop();
  if (small) execFileSync('umount', [small]);
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

test('a dump that cannot fit on the staging disk is refused before CRIU runs; the process runs on untouched', async () => {
  const acts = activitiesOn(small, 'space-small');
  const identity: ProcessIdentity = await new MockActivityEnvironment().run(acts.identifyProcess, { pid: workload.pid });
  const mapsBefore = workload.maps();
  const input: FinalDumpInput = { checkpointId: 'space-1', index: 0, pid: workload.pid, expectedIdentity: identity, parent: null, leaveRunning: true };

  const err = await expectFailure(new MockActivityEnvironment().run(acts.dumpLayer, input), (e) => e instanceof ApplicationFailure && e.type === 'StagingSpaceLow' && e.nonRetryable === true);
  expect(err.message).toMatch(/the staging dir .*small\/space-small has \d+\.\d MiB free; dump of layer 0 \(pid \d+\) needs about 6\d\.\d MiB \(the process tree's resident memory\)/);
  expect(err.message).toMatch(/Nothing was dumped and the process runs on/);
  expect(['R', 'S']).toContain(workload.state());
  expect(workload.maps()).toEqual(mapsBefore);
  expect(await workload.verify()).toMatchObject({ ok: true, bad: 0 });
  expect(fs.readdirSync(path.join(small, 'space-small')).flatMap((d) => fs.readdirSync(path.join(small, 'space-small', d)))).toEqual([]);

  // With room, the same step dumps (left running) and records the layer.
  const roomy = activitiesOn(path.join(root, 'roomy'), 'space-roomy');
  const dump: LayerDump = await new MockActivityEnvironment().run(roomy.dumpLayer, { ...input, checkpointId: 'space-2' });
  expect(dump.bytes).toBeGreaterThan(MIB * 1024 * 1024 * 0.9);
  expect(await workload.verify()).toMatchObject({ ok: true, bad: 0 });
});
