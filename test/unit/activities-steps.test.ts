/**
 * The activities alone, in MockActivityEnvironment: retry decisions by error kind, heartbeated
 * upload progress, idempotent dumps, cancellation clean-up, and the staging-dir guard.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import type { LayerDump, UploadResult } from '../../src/activities/types';
import { toActivityFailure } from '../../src/activities/failures';
import { failureTypeOf } from '../../src/core';
import { NoSuchProcessError, CriuFailedError } from '../../src/core';
import { ChecksumMismatch, StorageUnreachable } from '../../src/core';
import { FakeStore, fakeHost } from '../helpers/fake-host';
import { removeTempRoots, tempRoot } from '../helpers/temp-dirs';

const PID = 2222;
afterAll(() => removeTempRoots());

function setup() {
  const store = new FakeStore();
  const host = fakeHost('acthost', store, tempRoot('act'));
  host.criu.alive.add(PID);
  return { store, host, acts: createActivities(host.deps) };
}

const identity = { pid: PID, startTime: 1000 + PID, bootId: 'boot-1', comm: 'workload' };

describe('activity failure mapping', () => {
  test('permanent CRIU kinds become non-retryable failures with stable types', () => {
    const f = toActivityFailure(new NoSuchProcessError(PID)) as ApplicationFailure;
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f.type).toBe('NoSuchProcess');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(/no process with pid 2222/);
  });

  test('transient kinds keep their type but stay retryable', () => {
    const criu = toActivityFailure(new CriuFailedError('DUMP', 5, ['Error (criu/x.c:1): boom'], null, 'try again')) as ApplicationFailure;
    expect(criu.type).toBe('CriuFailed');
    expect(criu.nonRetryable).toBe(false);
    const net = toActivityFailure(new StorageUnreachable('http://127.0.0.1:9000', 'ECONNREFUSED')) as ApplicationFailure;
    expect(net.type).toBe('StorageUnreachable');
    expect(net.nonRetryable).toBe(false);
    const sum = toActivityFailure(new ChecksumMismatch('k', 'a', 'b')) as ApplicationFailure;
    expect(sum.nonRetryable).toBe(true);
  });

  test('unknown errors pass through for Temporal to retry', () => {
    const e = new Error('EIO');
    expect(toActivityFailure(e)).toBe(e);
    expect(failureTypeOf('parent-images-invalid')).toBe('ParentImagesInvalid');
  });
});

describe('activities', () => {
  test('upload heartbeats its progress and returns the stored record', async () => {
    const { host, acts } = setup();
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const dump: LayerDump = await env.run(acts.preDumpLayer, { checkpointId: 'ck-1', index: 0, pid: PID, expectedIdentity: identity, parent: null });
    // The fake store reports no progress itself: wrap it so it does, as the real one does.
    const put = host.deps.store.putLayer.bind(host.deps.store);
    host.deps.store.putLayer = async (id, layer, dir, opts) => {
      opts.onProgress?.({ bytesDone: 10, bytesTotal: 20 });
      opts.onProgress?.({ bytesDone: 20, bytesTotal: 20 });
      return put(id, layer, dir, opts);
    };
    const up: UploadResult = await env.run(acts.uploadLayer, { checkpointId: 'ck-1', layer: dump });
    expect(up.record.files.map((f) => f.name).sort()).toEqual(['inventory.img', 'pages-1.img']);
    expect(beats).toContainEqual({ index: 0, bytesDone: 20, bytesTotal: 20 });
  });

  test('a retried dump reuses the finished layer instead of dumping twice', async () => {
    const { host, acts } = setup();
    const env = new MockActivityEnvironment();
    const input = { checkpointId: 'ck-2', index: 0, pid: PID, expectedIdentity: identity, parent: null, leaveRunning: false };
    const first = await env.run(acts.dumpLayer, input);
    const again = await env.run(acts.dumpLayer, input);
    expect(again).toEqual(first);
    expect(host.criu.calls.filter((c) => c.startsWith('dump:'))).toHaveLength(1);
  });

  test('staging holds process memory: its dirs are 0700 and its markers 0600 whatever the umask', async () => {
    const { host, acts } = setup();
    const env = new MockActivityEnvironment();
    const umask = process.umask(0o022);
    try {
      await env.run(acts.preDumpLayer, { checkpointId: 'ck-m', index: 0, pid: PID, expectedIdentity: identity, parent: null });
    } finally {
      process.umask(umask);
    }
    const mode = (p: string) => fs.statSync(p).mode & 0o777;
    const ck = path.join(host.deps.stagingDir, 'checkpoints', 'ck-m');
    expect(mode(ck)).toBe(0o700);
    expect(mode(path.join(ck, 'layer-0'))).toBe(0o700);
    const markers = fs.readdirSync(ck).filter((f) => f.endsWith('.json'));
    expect(markers.length).toBeGreaterThan(0);
    for (const m of markers) expect([m, mode(path.join(ck, m))]).toEqual([m, 0o600]);
  });

  test('a pre-dump cancelled while CRIU runs removes its images once CRIU is done', async () => {
    const { host, acts } = setup();
    const env = new MockActivityEnvironment();
    host.criu.onPreDump = async () => {
      env.cancel();
      await new Promise((r) => setTimeout(r, 20));
    };
    const err = await env.run(acts.preDumpLayer, { checkpointId: 'ck-3', index: 0, pid: PID, expectedIdentity: identity, parent: null }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledFailure);
    expect(fs.existsSync(path.join(host.deps.stagingDir, 'checkpoints', 'ck-3', 'layer-0'))).toBe(false);
    expect(host.criu.alive.has(PID)).toBe(true);
  });

  test('nothing outside the host staging dir can be restored or removed', async () => {
    const { acts } = setup();
    const env = new MockActivityEnvironment();
    const victim = tempRoot('victim');
    const err = await env.run(acts.cleanStaging, { dir: victim }).catch((e: unknown) => e);
    expect((err as ApplicationFailure).type).toBe('OutsideStaging');
    expect(fs.existsSync(victim)).toBe(true);
    const err2 = await env.run(acts.restoreProcess, { imagesDir: '/etc' }).catch((e: unknown) => e);
    expect((err2 as ApplicationFailure).type).toBe('OutsideStaging');
  });

  test('a bad pid file is a permanent failure that names the file', async () => {
    const { host, acts } = setup();
    const env = new MockActivityEnvironment();
    const file = path.join(host.deps.stagingDir, 'bad.pid');
    fs.writeFileSync(file, 'not-a-pid');
    const err = await env.run(acts.resolvePid, { pidFile: file }).catch((e: unknown) => e);
    expect((err as ApplicationFailure).type).toBe('PidFileUnreadable');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as Error).message).toContain(file);
  });

  test('a pid file is read narrowly: the file itself, regular, a few bytes, its content never in the message', async () => {
    const { host, acts } = setup();
    const env = new MockActivityEnvironment();
    const resolve = (pidFile: string) => env.run(acts.resolvePid, { pidFile }).then(String, (e: unknown) => e as ApplicationFailure);
    const dir = host.deps.stagingDir;
    fs.writeFileSync(path.join(dir, 'good.pid'), '4242\n');
    expect(await resolve(path.join(dir, 'good.pid'))).toBe('4242');

    // A 0600 key file named as the pid file: refused, and not one byte of it in the message.
    const secret = 'c2VjcmV0LWtleS1iYXNlNjQ=';
    fs.writeFileSync(path.join(dir, 'key'), secret, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'key-long'), `${secret}${secret}`, { mode: 0o600 });
    for (const name of ['key', 'key-long']) {
      const err = (await resolve(path.join(dir, name))) as ApplicationFailure;
      expect(err.type).toBe('PidFileUnreadable');
      expect(err.message).not.toContain(secret.slice(0, 8));
    }
    expect(((await resolve(path.join(dir, 'key-long'))) as Error).message).toMatch(/holds 48 bytes; a pid file holds one number/);

    // A symbolic link to a good pid file: refused (the link could point anywhere).
    fs.symlinkSync(path.join(dir, 'good.pid'), path.join(dir, 'link.pid'));
    expect(((await resolve(path.join(dir, 'link.pid'))) as Error).message).toMatch(/is a symbolic link/);
    // A device would fill memory; a directory is not a pid file either.
    expect(((await resolve('/dev/zero')) as Error).message).toMatch(/not a regular file/);
    expect(((await resolve(dir)) as Error).message).toMatch(/not a regular file/);
    expect(((await resolve(path.join(dir, 'missing.pid'))) as Error).message).toMatch(/does not exist/);
    fs.writeFileSync(path.join(dir, 'one.pid'), '1\n');
    expect(((await resolve(path.join(dir, 'one.pid'))) as Error).message).toMatch(/does not hold a pid/);
  });
});
