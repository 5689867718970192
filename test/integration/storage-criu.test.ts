/**
 * A real CRIU images dir (a dump of a live process) goes through the layer store and comes back
 * byte-identical, with the layer's kind, pid and CRIU stats read from the images.
 * Needs CRIU (FERRY_CRIU or /usr/local/sbin/criu) and MinIO: missing either fails the test.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { LayerStore, pushLocalChain } from '../../src/storage';
import { findCriu } from '../helpers/binaries';
import { PrivateMinio } from '../helpers/minio';
import { snapshotDir } from '../helpers/storage-fixtures';
import { criuEnvironment } from '../../src/criu/binary';

jest.setTimeout(300_000);

let minio: PrivateMinio;
let work: string;

beforeAll(async () => {
  minio = new PrivateMinio();
  await minio.start();
  await minio.createBucket('criu');
  work = mkdtempSync(path.join(os.tmpdir(), 'ferry-criu-store-'));
});

afterAll(async () => {
  await minio?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

it('round-trips a real CRIU dump byte-identical', async () => {
  const criu = findCriu();
  // detached: Node makes the child a session leader (setsid), as CRIU wants for a plain dump.
  const child = spawn('sleep', ['600'], { stdio: 'ignore', detached: true });
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('spawn', () => resolve(child.pid!));
  });
  const dir = path.join(work, 'dump');
  mkdirSync(dir);
  try {
    await promisify(execFile)(criu, ['dump', '--leave-running', '-t', String(pid), '-D', dir, '-o', 'dump.log', '-v4'], { env: criuEnvironment() });
  } finally {
    child.kill('SIGKILL');
  }
  const store = new LayerStore({ client: minio.client(), bucket: 'criu', prefix: 'criu' });
  const pushed = await pushLocalChain(store, 'real-1', dir, { criuVersion: 'test' });
  const layer = pushed.manifest.layers[0];
  expect(layer.kind).toBe('dump');
  expect(layer.process.pid).toBe(pid);
  expect(layer.stats.pagesWritten).toBeGreaterThan(0);
  expect(layer.files.map((f) => f.name)).toEqual(expect.arrayContaining(['inventory.img', 'pstree.img', 'dump.log']));

  const pulled = await store.pullChain('real-1', path.join(work, 'pulled'));
  expect(snapshotDir(pulled.finalDir)).toEqual(snapshotDir(dir));
});
