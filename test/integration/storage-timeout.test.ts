/**
 * A store that stops answering (a private MinIO SIGSTOPped in the middle of an encrypted
 * multipart upload: connections are still accepted by the kernel, nothing answers) makes the
 * transfer fail as StorageUnreachable (retryable) within a bounded time instead of hanging;
 * after SIGCONT the retried upload resumes from the stored parts (sealing is deterministic, so
 * the encrypted parts match) and the layer pulls back verified.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/config';
import { EncryptionKey } from '../../src/config/encryption-key';
import { LayerStore, createS3Client, type LayerInput } from '../../src/storage';
import { expectFailure, makeChain, snapshotDir } from '../helpers/storage-fixtures';
import { PrivateMinio } from '../helpers/minio';
import { isError, StorageUnreachable } from '../../src/core';

jest.setTimeout(300_000);
const MiB = 1024 * 1024;

let minio: PrivateMinio;
let work: string;

beforeAll(async () => {
  minio = new PrivateMinio();
  await minio.start();
  await minio.createBucket('frozen');
  work = mkdtempSync(path.join(os.tmpdir(), 'ferry-frozen-'));
});

afterAll(async () => {
  await minio?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const layer: LayerInput = {
  index: 0,
  kind: 'dump',
  parentIndex: null,
  criuVersion: 'test',
  kernel: 'test',
  host: 'test',
  process: { pid: 1, startTime: 0, bootId: '', comm: '' },
  stats: { frozenTimeUs: 0, memdumpTimeUs: 0, pagesScanned: 0, pagesWritten: 0, pagesSkippedParent: 0 },
};

it('a frozen MinIO fails the upload as StorageUnreachable in bounded time; after SIGCONT the retry resumes and completes', async () => {
  const config = loadConfig({
    HOME: work,
    FERRY_STATE_DIR: path.join(work, 'state'),
    FERRY_S3_ENDPOINT: minio.endpoint,
    FERRY_S3_BUCKET: 'frozen',
    FERRY_S3_CONNECT_TIMEOUT_MS: '1000',
    FERRY_S3_REQUEST_TIMEOUT_MS: '2000',
  });
  expect(config.s3.requestTimeoutMs).toBe(2000);
  const client = createS3Client(config, { credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey } });
  let partsDone = 0;
  let paused = false;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const out = await next(args);
      if ((context as { commandName?: string }).commandName === 'UploadPartCommand') {
        partsDone++;
        if (partsDone === 2 && !paused) {
          paused = true;
          minio.pause();
        }
      }
      return out;
    },
    { step: 'initialize', name: 'freezeAfterTwoParts' },
  );
  const store = new LayerStore({ client, bucket: 'frozen', prefix: 'f', partSize: 5 * MiB, concurrency: 2, encryptionKey: new EncryptionKey(Buffer.alloc(32, 1)) });
  const chain = makeChain(1, [40 * MiB], 21, mkdtempSync(path.join(work, 'chain-')));

  const started = Date.now();
  const err = await expectFailure(store.putLayer('frozen-1', layer, chain.dirs[0]), ((e: unknown) => isError(e, StorageUnreachable)));
  const seconds = (Date.now() - started) / 1000;
  console.log(`frozen store: failed after ${seconds.toFixed(1)} s with: ${err.message}`);
  expect(paused).toBe(true);
  // SDK attempts x request timeout plus backoff, far from "forever"; the bound is generous for a loaded machine.
  expect(seconds).toBeLessThan(60);
  expect(StorageUnreachable.retryable).toBe(true);

  minio.resume();
  const { record, report } = await store.putLayerReport('frozen-1', layer, chain.dirs[0]);
  expect(report.partsReused).toBeGreaterThanOrEqual(2);
  expect(report.bytesSent).toBeLessThan(record.bytes);
  await store.writeManifest({ formatVersion: 1, checkpointId: 'frozen-1', complete: true, createdAt: new Date().toISOString(), completedAt: new Date().toISOString(), layers: [record], baseLayers: [] });
  const pulled = await store.pullChain('frozen-1', path.join(work, 'pulled'));
  expect(snapshotDir(pulled.finalDir).files).toEqual(snapshotDir(chain.dirs[0]).files);
});
