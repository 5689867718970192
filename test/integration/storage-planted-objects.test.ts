/**
 * "Stored" and "complete" mean the bytes ferry meant, on a real MinIO, against someone who can
 * write to the bucket: an object planted under a blob's name (with metadata that claims the right
 * hash) is never taken for the file, with or without encryption; an object swapped after ferry
 * stored it stops the manifest from being marked complete. Each case failed before the store
 * recorded server ETags and read existing objects back (issue 14, item 5).
 * Needs MinIO: a missing one fails these tests.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { EncryptionKey } from '../../src/config/encryption-key';
import { ChecksumMismatch, isError } from '../../src/core';
import { KeyLayout, LayerStore, ciphertextSize, newManifest, pushLocalChain, type LayerInput } from '../../src/storage';
import { PrivateMinio } from '../helpers/minio';
import { expectFailure, makeChain, snapshotDir } from '../helpers/storage-fixtures';

jest.setTimeout(180_000);
const MiB = 1024 * 1024;
const BUCKET = 'planted';
const key = new EncryptionKey(Buffer.alloc(32, 0x42));

let minio: PrivateMinio;
let client: S3Client;
let work: string;

function store(prefix: string, k: EncryptionKey | null = null): LayerStore {
  return new LayerStore({ client, bucket: BUCKET, prefix, partSize: 5 * MiB, concurrency: 2, encryptionKey: k });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function body(objectKey: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: objectKey }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

/** Writes `bytes` under `objectKey` as a bucket writer would, with whatever metadata it likes. */
async function plant(objectKey: string, bytes: Buffer, metadata: Record<string, string>): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: objectKey, Body: bytes, Metadata: metadata }));
}

/** Same length, different bytes. */
const poisoned = (original: Buffer): Buffer => Buffer.from(original.map((b) => b ^ 0x5a));

const layerInput: LayerInput = {
  index: 0,
  kind: 'dump',
  parentIndex: null,
  criuVersion: '4.1.1',
  kernel: 'k',
  host: 'h',
  process: { pid: 4242, startTime: 1, bootId: 'b', comm: 'c' },
  stats: { frozenTimeUs: 0, memdumpTimeUs: 0, pagesScanned: 0, pagesWritten: 0, pagesSkippedParent: 0 },
};

beforeAll(async () => {
  minio = new PrivateMinio();
  await minio.start();
  await minio.createBucket(BUCKET);
  client = minio.client();
  work = mkdtempSync(path.join(os.tmpdir(), 'ferry-planted-it-'));
});

afterAll(async () => {
  await minio?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

it('a plaintext blob planted under its content address, with forged metadata, is sent again, and the checkpoint restores the real bytes', async () => {
  // One file bigger than a part (multipart) and several small ones (single PutObject).
  const chain = makeChain(1, [12 * MiB], 7, mkdtempSync(path.join(work, 'plain-')));
  const dir = chain.dirs[0]!;
  const keys = new KeyLayout('plain');
  const local = snapshotDir(dir).files;
  for (const [name, hash] of Object.entries(local)) {
    const real = readFileSync(path.join(dir, name));
    await plant(keys.blob(hash), poisoned(real), { 'ferry-sha256': hash });
  }

  const s = store('plain');
  const pushed = await pushLocalChain(s, 'cp-plain', dir);
  expect(pushed.report.filesSkipped).toBe(0);
  expect(pushed.report.bytesSent).toBe(pushed.report.bytesTotal);
  for (const hash of Object.values(local)) expect(sha256(await body(keys.blob(hash)))).toBe(hash);

  const into = mkdtempSync(path.join(work, 'pull-plain-'));
  const pulled = await s.pullChain('cp-plain', into);
  expect(snapshotDir(pulled.finalDir).files).toEqual(local);

  // Once the right bytes are there, a second checkpoint of the same files reads them back instead of sending them.
  const again = await pushLocalChain(s, 'cp-plain-2', dir);
  expect(again.report.filesSkipped).toBe(Object.keys(local).length);
  expect(again.report.bytesSent).toBe(0);
});

it('an encrypted blob swapped for garbage (key id metadata and size kept) is sealed and sent again', async () => {
  const chain = makeChain(1, [8 * MiB], 9, mkdtempSync(path.join(work, 'enc-')));
  const dir = chain.dirs[0]!;
  const s = store('enc', key);
  const first = await pushLocalChain(s, 'cp-enc-1', dir);
  const manifest = await s.readManifest('cp-enc-1');
  const keys = new KeyLayout('enc');
  const pages = manifest.layers[0]!.files.find((f) => f.name === 'pages-1.img')!;
  const pagesKey = keys.blobOf(pages);
  const stored = await body(pagesKey);
  await plant(pagesKey, poisoned(stored), { 'ferry-key-id': key.id });

  const second = await pushLocalChain(s, 'cp-enc-2', dir);
  // Every other file was read back, decrypted and found right; the swapped one was sent again.
  expect(second.report.filesSkipped).toBe(first.manifest.layers[0]!.files.length - 1);
  expect(second.report.bytesSent).toBe(ciphertextSize(pages.size, manifest.layers[0]!.encryption!.segmentSize));
  const into = mkdtempSync(path.join(work, 'pull-enc-'));
  const pulled = await s.pullChain('cp-enc-1', into);
  expect(snapshotDir(pulled.finalDir).files).toEqual(snapshotDir(dir).files);
});

it('an object swapped after it was stored keeps the manifest from being marked complete, naming the object', async () => {
  const chain = makeChain(1, [6 * MiB], 11, mkdtempSync(path.join(work, 'swap-')));
  const dir = chain.dirs[0]!;
  const s = store('swap');
  const record = await s.putLayer('cp-swap', layerInput, dir);
  expect(record.files.every((f) => typeof f.etag === 'string' && f.etag.length > 0)).toBe(true);
  const keys = new KeyLayout('swap');
  const victim = record.files.find((f) => f.name === 'pages-1.img')!;
  // Same size, same forged metadata: only the server's ETag tells it apart.
  await plant(keys.blob(victim.sha256), poisoned(await body(keys.blob(victim.sha256))), { 'ferry-sha256': victim.sha256 });

  const manifest = { ...newManifest('cp-swap'), layers: [record], complete: true, completedAt: new Date().toISOString() };
  const err = await expectFailure(s.writeManifest(manifest), (e) => isError(e, ChecksumMismatch));
  expect(err.message).toContain(keys.blob(victim.sha256));
  expect(err.message).toMatch(/replaced after it was stored/);
  await expectFailure(s.readManifest('cp-swap'), (e) => (e as Error).name === 'CheckpointNotFound');
});
