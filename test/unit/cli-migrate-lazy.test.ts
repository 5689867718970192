/**
 * `ferry migrate --lazy`: refused with --no-direct before anything is contacted, its risk stated
 * in --help, and its output naming both times (running on the target, last page) and the risk.
 */
import { formatMigrate } from '../../src/cli/workflow-output';
import { EXIT_USAGE } from '../../src/cli/exit-codes';
import { POST_COPY_RISK } from '../../src/core';
import type { MigrateResult } from '../../src/workflows/types';
import { ferryInProcess } from '../helpers/ferry-cli';

describe('ferry migrate --lazy', () => {
  test('with --no-direct is a usage error, before any connection', async () => {
    const r = await ferryInProcess('migrate', '--pid', '4242', '--from', 'web-1', '--to', 'web-2', '--lazy', '--no-direct', '--wait');
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toMatch(/--lazy .*cannot be combined with --no-direct/);
  });

  test('--help states the post-copy risk', async () => {
    const r = await ferryInProcess('migrate', '--help');
    const help = (r.stdout + r.stderr).replace(/\s+/g, ' ');
    expect(help).toMatch(/--lazy/);
    expect(help).toMatch(/RISK: until the last page has arrived the process needs the source host, and if that host dies first the process is lost/);
    expect(help).toMatch(/a --leave-running checkpoint of the process on web-2 is stored/);
  });

  test('the text output gives both times, the risk and the durable copy with its freeze', () => {
    const r = {
      workflowId: 'ferry-migrate-web-1-4242',
      checkpointId: 'ck-1',
      from: 'web-1',
      to: 'web-2',
      pid: 4242,
      newPid: 5151,
      path: 'post-copy',
      downtime: { totalMs: 180, parts: { frozenDumpMs: 60, finalDumpMs: 60, uploadMs: 0, commitMs: 0, downloadMs: 0, restoreMs: 90, directMs: 20, otherMs: 10 } },
      postCopy: {
        runningOnTargetMs: 180,
        lastPageAtMs: 1460,
        pagesAfterRunningMs: 1280,
        imagesBytes: 300_000,
        tunnelBytes: 134_500_000,
        risk: POST_COPY_RISK,
        durableCopy: { checkpointId: 'ck-1', workflowId: 'ferry-process-web-2-5151', frozenMs: 410, finalDumpMs: 450, storedAtMs: 2900 },
      },
      checkpoint: { checkpointId: 'ck-1', layers: [{}], bytesUploaded: 134_000_000, preDumps: { count: 0, stopReason: 'not-needed' } },
      prefetch: null,
      prefetchProblem: null,
      direct: { bytes: 300_000, layersSent: [0], durationMs: 20 },
      directProblem: null,
      restore: {},
      durationMs: 4000,
    } as unknown as MigrateResult;
    const text = formatMigrate(r, null);
    expect(text).toMatch(/post-copy: running on web-2 180 ms after the freeze; last page in 1\.5 s after the freeze/);
    expect(text).toContain(`risk: ${POST_COPY_RISK}`);
    expect(text).toMatch(/durable copy: --leave-running checkpoint ck-1 on web-2 .*froze the process again for 410 ms/);
  });
});
