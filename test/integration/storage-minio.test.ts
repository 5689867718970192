/**
 * The layer store against a real MinIO (a private instance, see test/helpers/minio.ts): round trips,
 * resumption after MinIO is killed mid-upload, and one clear error per failure kind with nothing
 * exposed from bad data.
 */
import { appendFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  LayerStore,
  newManifest,
  pushLocalChain,
  type LayerInput,
} from '../../src/storage';
import { expectFailure, makeChain, pseudoRandom, snapshotDir } from '../helpers/storage-fixtures';
import { PrivateMinio } from '../helpers/minio';
import { freePort } from '../helpers/ports';
import { errorKind, isError, BucketMissing, StorageUnreachable, AccessDenied, ChecksumMismatch, ObjectMissing } from '../../src/core';

jest.setTimeout(300_000);
const MiB = 1024 * 1024;
const BUCKET = 'ferry-test';

let minio: PrivateMinio;
const scratch: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'ferry-it-'));
  scratch.push(d);
  return d;
};

beforeAll(async () => {
  minio = new PrivateMinio();
  await minio.start();
  await minio.createBucket(BUCKET);
});

afterAll(async () => {
  await minio?.stop();
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

/** Counts S3 commands by name as they are sent (middleware, so SDK retries count too). */
function countCommands(client: S3Client): Map<string, number> {
  const counts = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = (context as { commandName?: string }).commandName ?? '?';
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'finalizeRequest', name: 'ferryTestCounter' },
  );
  return counts;
}

function store(client: S3Client, over: Partial<{ partSize: number; concurrency: number; bucket: string }> = {}): LayerStore {
  return new LayerStore({ client, bucket: over.bucket ?? BUCKET, prefix: 'it', partSize: over.partSize ?? 5 * MiB, concurrency: over.concurrency ?? 3 });
}

const input = (index: number): LayerInput => ({
  index,
  kind: 'pre-dump',
  parentIndex: index === 0 ? null : index - 1,
  criuVersion: '4.1.1',
  kernel: os.release(),
  host: 'it-host',
  process: { pid: 1, startTime: 1, bootId: 'b', comm: 'c' },
  stats: { frozenTimeUs: 0, memdumpTimeUs: 0, pagesScanned: 0, pagesWritten: 0, pagesSkippedParent: 0 },
});

describe('layer store on MinIO', () => {
  it('round-trips a multi-layer chain byte-identical, multipart included, and a second push sends nothing', async () => {
    const client = minio.client();
    const counts = countCommands(client);
    const s = store(client);
    const chain = makeChain(3, [17 * MiB, 2 * MiB, 11 * MiB], 21, tmp());
    const pushed = await pushLocalChain(s, 'rt-1', chain.dirs[2], { criuVersion: '4.1.1' });
    expect(pushed.manifest.complete).toBe(true);
    expect(counts.get('UploadPartCommand')).toBe(4 + 3); // 17 MiB and 11 MiB in 5 MiB parts
    // Files with identical bytes (the pre-dumps' inventory.img) are one blob, sent once.
    const unique = new Map(pushed.manifest.layers.flatMap((l) => l.files.map((f) => [f.sha256, f.size] as const)));
    expect(pushed.report.bytesSent).toBe([...unique.values()].reduce((a, b) => a + b, 0));

    const again = await pushLocalChain(s, 'rt-1', chain.dirs[2]);
    expect(again.report.bytesSent).toBe(0);
    expect(counts.get('UploadPartCommand')).toBe(7);

    const into = path.join(tmp(), 'pulled');
    const pulled = await s.pullChain('rt-1', into);
    for (let i = 0; i < 3; i++) {
      const got = snapshotDir(pulled.layerDirs[i]);
      expect(got.files).toEqual(snapshotDir(chain.dirs[i]).files);
      expect(got.parent).toBe(i === 0 ? null : `../layer-${i - 1}`);
    }
    const list = await s.list();
    expect(list.find((c) => c.checkpointId === 'rt-1')).toMatchObject({ complete: true, layers: 3, bytes: pushed.report.bytesTotal });
  });

  it('prefetch: stored layers of an incomplete checkpoint first, then only the final layer into the same dir', async () => {
    const s = store(minio.client());
    const chain = makeChain(3, [6 * MiB, 1 * MiB, 2 * MiB], 33, tmp());
    const pushed = await pushLocalChain(s, 'pf-1', chain.dirs[2], { criuVersion: '4.1.1' });
    const complete = pushed.manifest;
    // What migrate's checkpoint commits before the freeze: the pre-dump layers, not complete.
    await s.writeManifest({ ...complete, layers: complete.layers.slice(0, 2), complete: false, completedAt: null });
    const into = path.join(tmp(), 'prefetched');
    const early = await s.pullChain('pf-1', into, { allowIncomplete: true });
    expect(early.downloaded).toEqual([0, 1]);

    await s.writeManifest(complete);
    const client = minio.client();
    const counts = countCommands(client);
    const late = await store(client).pullChain('pf-1', into, { trustPresent: true });
    expect(late.downloaded).toEqual([2]);
    // The manifest, then layer 2's files: nothing of layers 0 and 1 is read again.
    expect(counts.get('GetObjectCommand')).toBe(1 + complete.layers[2].files.length);
    for (let i = 0; i < 3; i++) expect(snapshotDir(late.layerDirs[i]).files).toEqual(snapshotDir(chain.dirs[i]).files);

    // Trusting present layers still checks what is cheap to check: a file of the wrong size is refused.
    appendFileSync(path.join(late.layerDirs[0], 'pages-1.img'), 'x');
    await expectFailure(s.pullChain('pf-1', into, { trustPresent: true }), (e: unknown) => (e as Error).name === 'LocalLayerInvalid' && /layer-0 exists but does not match/.test((e as Error).message));
  });

  it('a checkpoint id is claimed once: concurrent claims of a new id, one winner; a retry by the owner is its own; a stored id is taken for others', async () => {
    const s = store(minio.client());
    const wins = await Promise.all(['run-a', 'run-b', 'run-c', 'run-d'].map((owner) => s.claimCheckpointId('claimed-1', owner)));
    expect(wins.filter(Boolean)).toHaveLength(1);
    const winner = ['run-a', 'run-b', 'run-c', 'run-d'][wins.indexOf(true)]!;
    expect(await s.claimCheckpointId('claimed-1', winner)).toBe(true);
    expect(await s.readManifest('claimed-1')).toMatchObject({ checkpointId: 'claimed-1', complete: false, layers: [] });
    // Once the owner commits, the id stays taken for everyone else.
    const d = tmp();
    writeFileSync(path.join(d, 'pages-1.img'), Buffer.alloc(4096, 1));
    const { record } = await s.putLayerReport('claimed-1', { ...input(0), kind: 'dump' }, d);
    await s.writeManifest({ ...newManifest('claimed-1'), complete: true, completedAt: new Date().toISOString(), layers: [record] });
    expect(await s.claimCheckpointId('claimed-1', 'run-e')).toBe(false);
    expect((await s.readManifest('claimed-1')).complete).toBe(true);
  });

  it('resumes after MinIO is killed mid-upload without resending stored parts', async () => {
    const client = minio.client({ maxAttempts: 1 });
    const dir = tmp();
    const bytes = pseudoRandom(48 * MiB, 33);
    writeFileSync(path.join(dir, 'pages-1.img'), bytes);
    const partsTotal = Math.ceil(48 / 5);
    let stored = 0;
    let killing: Promise<void> | null = null;
    // Kill MinIO (SIGKILL) once 4 parts are stored, while others are in flight.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if ((context as { commandName?: string }).commandName === 'UploadPartCommand' && ++stored === 4) killing = minio.kill();
        return out;
      },
      { step: 'initialize', name: 'ferryKillAfterParts' },
    );
    const s = store(client, { concurrency: 2 });
    const err = await expectFailure(s.putLayer('kill-1', input(0), dir), ((e: unknown) => isError(e, StorageUnreachable)));
    expect(err.message).toContain(minio.endpoint);
    expect(errorKind(err)).toBe('storage-unreachable');
    await killing;
    const storedBeforeKill = stored;

    await minio.start(); // same data dir, same port
    const client2 = minio.client();
    const counts = countCommands(client2);
    const s2 = store(client2, { concurrency: 2 });
    const { record, report } = await s2.putLayerReport('kill-1', input(0), dir);
    expect(report.partsReused).toBeGreaterThanOrEqual(storedBeforeKill);
    expect(report.partsReused + report.partsSent).toBe(partsTotal);
    expect(counts.get('UploadPartCommand')).toBe(partsTotal - report.partsReused);
    expect(counts.get('CreateMultipartUploadCommand')).toBeUndefined();

    const obj = await client2.send(new GetObjectCommand({ Bucket: BUCKET, Key: s2.keys.blob(record.files[0].sha256) }));
    const back = Buffer.from(await obj.Body!.transformToByteArray());
    expect(back.equals(bytes)).toBe(true);
  });

  describe('failures: each its own error, nothing exposed', () => {
    let s: LayerStore;
    let client: S3Client;
    beforeAll(async () => {
      client = minio.client();
      s = store(client);
      const chain = makeChain(2, [6 * MiB, 3000], 44, tmp());
      await pushLocalChain(s, 'bad-1', chain.dirs[1]);
    });

    it('a corrupted object fails the pull naming it, and its file never appears', async () => {
      const m = await s.readManifest('bad-1');
      const f = m.layers[1].files.find((x) => x.name === 'pages-1.img')!;
      const key = s.keys.blob(f.sha256);
      const original = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray());
      const damaged = Buffer.from(original);
      damaged[damaged.length - 1] ^= 0x01;
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: damaged }));
      const into = path.join(tmp(), 'corrupt');
      const err = await expectFailure(s.pullChain('bad-1', into), ((e: unknown) => isError(e, ChecksumMismatch)));
      expect(err.message).toContain(key);
      expect(readdirSync(into)).toEqual(['layer-0']);
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: original, Metadata: { 'ferry-sha256': f.sha256 } }));
    });

    it('a missing object fails the pull naming it', async () => {
      const m = await s.readManifest('bad-1');
      const f = m.layers[0].files[0];
      const key = s.keys.blob(f.sha256);
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
      const into = path.join(tmp(), 'missing');
      const err = await expectFailure(s.pullChain('bad-1', into), ((e: unknown) => isError(e, ObjectMissing)));
      expect(err.message).toContain(key);
      expect(readdirSync(into)).toEqual([]);
      // And the manifest can no longer be committed as complete.
      await expectFailure(s.writeManifest(m), ((e: unknown) => isError(e, ObjectMissing)));
    });

    it('a wrong secret is AccessDenied and the secret appears nowhere', async () => {
      const wrong = `wrong-${minio.secretKey}`;
      const bad = store(minio.client({ secretKey: wrong }));
      const err = await expectFailure(bad.readManifest('bad-1'), ((e: unknown) => isError(e, AccessDenied)));
      expect(err.message).toContain(BUCKET);
      expect(JSON.stringify({ message: err.message, stack: err.stack })).not.toContain(wrong);
      expect(err.message).not.toContain(minio.secretKey);
      const dir = makeChain(1, [100], 45, tmp()).dirs[0];
      await expectFailure(bad.putLayer('x', input(0), dir), ((e: unknown) => isError(e, AccessDenied)));
    });

    it('an absent bucket is BucketMissing, on read and on upload', async () => {
      const nob = store(client, { bucket: 'no-such-bucket-here' });
      const err = await expectFailure(nob.readManifest('bad-1'), ((e: unknown) => isError(e, BucketMissing)));
      expect(err.message).toContain('no-such-bucket-here');
      const dir = makeChain(1, [100], 46, tmp()).dirs[0];
      await expectFailure(nob.putLayer('x', input(0), dir), ((e: unknown) => isError(e, BucketMissing)));
    });

    it('an unreachable endpoint is StorageUnreachable naming it', async () => {
      const port = await freePort();
      const down = store(minio.client({ endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 }));
      const err = await expectFailure(down.list(), ((e: unknown) => isError(e, StorageUnreachable)));
      expect(err.message).toContain(`127.0.0.1:${port}`);
      const into = path.join(tmp(), 'down');
      await expectFailure(down.pullChain('bad-1', into), ((e: unknown) => isError(e, StorageUnreachable)));
    });
  });
});
