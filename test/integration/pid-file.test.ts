/**
 * A warm schedule's pid file that is a FIFO (mkfifo, a real one): reading it must not block the
 * activity waiting for a writer that never comes; it is refused as not a regular file.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readPidFile } from '../../src/activities/pid-file';
import { isError, PidFileUnreadable } from '../../src/core';
import { tempRoot } from '../helpers/temp-dirs';

test('a FIFO named as the pid file is refused at once, not waited on', async () => {
  const dir = tempRoot('pid-fifo');
  const fifo = path.join(dir, 'app.pid');
  execFileSync('mkfifo', [fifo]);
  const err = await readPidFile(fifo, 'host-a').catch((e: unknown) => e);
  expect(isError(err, PidFileUnreadable)).toBe(true);
  expect((err as Error).message).toMatch(/is not a regular file/);
  fs.rmSync(dir, { recursive: true, force: true });
});
