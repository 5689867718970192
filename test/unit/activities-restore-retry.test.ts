/**
 * restoreProcess retried after its first attempt restored the process but its result was lost
 * (worker killed between CRIU's answer and the activity's completion): the retry must find the
 * restored process through the marker and not restore a second time. The real worker restores
 * with rst_sibling, so the restored process is the worker's child, which identify() refuses as
 * ferry's own tree: the marker must be written with describe() instead.
 */
import fs from 'node:fs';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import type { CriuPort } from '../../src/activities/deps';
import type { RestoreOutcome } from '../../src/activities/types';
import { RefusedTargetError } from '../../src/core';
import { FakeStore, fakeHost } from '../helpers/fake-host';
import { removeTempRoots, tempRoot } from '../helpers/temp-dirs';

afterAll(() => removeTempRoots());

test('a retried restore returns the process restored by the lost attempt instead of restoring again', async () => {
  const host = fakeHost('rsthost', new FakeStore(), tempRoot('rst'));
  const criu = host.criu;
  criu.restoredPid = 31337;
  // As on a real worker: every restored process is ferry's own child, so identify() refuses it.
  criu.identify = async (pid: number) => {
    throw new RefusedTargetError(pid, 'own-tree');
  };
  const port: CriuPort = criu;
  port.describe = async (pid: number) => ({ pid, startTime: 77, bootId: 'boot-1', comm: 'workload' });
  const imagesDir = path.join(host.deps.stagingDir, 'downloads', 'ck-1', 'layer-0');
  fs.mkdirSync(imagesDir, { recursive: true });
  const acts = createActivities(host.deps);

  const first: RestoreOutcome = await new MockActivityEnvironment().run(acts.restoreProcess, { imagesDir });
  const retry: RestoreOutcome = await new MockActivityEnvironment({ attempt: 2 }).run(acts.restoreProcess, { imagesDir });
  expect(retry.pid).toBe(first.pid);
  expect(criu.calls.filter((c) => c.startsWith('restore:'))).toHaveLength(1);
});
