import { mkdtempSync, readdirSync, existsSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  LayerStore,
  pushLocalChain,
  type LayerInput,
} from '../../src/storage';
import { FakeS3 } from '../helpers/fake-s3';
import { expectFailure, makeChain, pseudoRandom, snapshotDir } from '../helpers/storage-fixtures';
import { isError, ManifestInvalid, CheckpointNotFound, StorageUnreachable, CheckpointIncomplete, ChecksumMismatch, LocalLayerInvalid, CheckpointInUse, TransferAborted, ObjectMissing } from '../../src/core';

const MiB = 1024 * 1024;
const scratch: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'ferry-store-'));
  scratch.push(d);
  return d;
};
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

function store(fake: FakeS3, over: Partial<{ partSize: number; concurrency: number }> = {}): LayerStore {
  return new LayerStore({ client: fake.asClient(), bucket: 'ferry', prefix: 'ferry', host: 'test-host', partSize: 5 * MiB, concurrency: 3, ...over });
}

const layerInput = (index: number): LayerInput => ({
  index,
  kind: 'pre-dump',
  parentIndex: index === 0 ? null : index - 1,
  criuVersion: '4.1.1',
  kernel: 'k',
  host: '',
  process: { pid: 1, startTime: 1, bootId: 'b', comm: 'c' },
  stats: { frozenTimeUs: 0, memdumpTimeUs: 0, pagesScanned: 0, pagesWritten: 0, pagesSkippedParent: 0 },
});

describe('LayerStore (in-memory S3)', () => {
  it('pushes a chain following parent links and pulls it back byte-identical with relative parent links', async () => {
    const fake = new FakeS3();
    const s = store(fake);
    const chain = makeChain(3, [12 * MiB, 3000, 7 * MiB], 1, tmp());
    const progress: number[] = [];
    const pushed = await pushLocalChain(s, 'cp-a', chain.dirs[2], { criuVersion: '4.1.1', onProgress: (p) => progress.push(p.bytesDone) });
    expect(pushed.dirs).toEqual(chain.dirs);
    expect(pushed.manifest.complete).toBe(true);
    expect(pushed.manifest.layers.map((l) => l.kind)).toEqual(['pre-dump', 'pre-dump', 'dump']);
    expect(pushed.manifest.layers[2].process.pid).toBe(4242);
    expect(pushed.manifest.layers[1].stats.pagesSkippedParent).toBe(50);
    expect(progress[progress.length - 1]).toBe(pushed.report.bytesTotal);
    expect(fake.count('UploadPart')).toBeGreaterThanOrEqual(3 + 2);

    const into = path.join(tmp(), 'pulled');
    const pulled = await s.pullChain('cp-a', into);
    expect(pulled.layerDirs.map((d) => path.basename(d))).toEqual(['layer-0', 'layer-1', 'layer-2']);
    for (let i = 0; i < 3; i++) {
      const got = snapshotDir(pulled.layerDirs[i]);
      expect(got.files).toEqual(snapshotDir(chain.dirs[i]).files);
      expect(got.parent).toBe(i === 0 ? null : `../layer-${i - 1}`);
    }
    expect(readdirSync(into).sort()).toEqual(['layer-0', 'layer-1', 'layer-2']);
  });

  it('refuses to pull into a dir whose layer-N is a symbolic link, writing nothing through it', async () => {
    const fake = new FakeS3();
    const s = store(fake);
    const chain = makeChain(2, [3000, 2000], 1, tmp());
    await pushLocalChain(s, 'cp-link', chain.dirs[1], { criuVersion: '4.1.1' });
    const into = path.join(tmp(), 'pulled');
    // The link points at a dir that holds layer 1's very files: it would pass the check, and the
    // pull would then write its parent link (and CRIU read images) wherever the link points.
    const elsewhere = tmp();
    const { copyFileSync, mkdirSync, symlinkSync } = await import('node:fs');
    for (const f of readdirSync(chain.dirs[1]).filter((n) => n !== 'parent')) copyFileSync(path.join(chain.dirs[1], f), path.join(elsewhere, f));
    const before = readdirSync(elsewhere).sort();
    mkdirSync(into);
    symlinkSync(elsewhere, path.join(into, 'layer-1'));
    await expectFailure(s.pullChain('cp-link', into, { trustPresent: true }), (e: unknown) => isError(e, LocalLayerInvalid) && /layer-1 is not a directory/.test((e as Error).message));
    expect(readdirSync(elsewhere).sort()).toEqual(before);
  });

  it('sends nothing again for a layer already stored', async () => {
    const fake = new FakeS3();
    const s = store(fake);
    const chain = makeChain(1, [6 * MiB], 1, tmp());
    const first = await s.putLayerReport('cp-b', layerInput(0), chain.dirs[0]);
    expect(first.report.bytesSent).toBe(first.record.bytes);
    const puts = fake.count('PutObject') + fake.count('UploadPart');
    const second = await s.putLayerReport('cp-b', layerInput(0), chain.dirs[0]);
    expect(second.report.bytesSent).toBe(0);
    expect(second.report.filesSkipped).toBe(second.record.files.length);
    expect(fake.count('PutObject') + fake.count('UploadPart')).toBe(puts);
    expect(second.record.files).toEqual(first.record.files);
  });

  it('resumes an interrupted multipart upload without resending stored parts', async () => {
    const fake = new FakeS3();
    const s = store(fake, { concurrency: 1 });
    const dir = tmp();
    writeFileSync(path.join(dir, 'pages-1.img'), pseudoRandom(26 * MiB, 7)); // 6 parts of 5 MiB
    let uploaded = 0;
    fake.failHook = (cmd) => {
      if (cmd !== 'UploadPart') return undefined;
      if (++uploaded === 4) return Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return undefined;
    };
    await expectFailure(s.putLayer('cp-c', layerInput(0), dir), ((e: unknown) => isError(e, StorageUnreachable)));
    expect(fake.uploads.size).toBe(1); // left in place on purpose, for the retry
    fake.failHook = undefined;
    const before = fake.count('UploadPart');
    const again = await s.putLayerReport('cp-c', layerInput(0), dir);
    expect(again.report.partsReused).toBe(3);
    expect(again.report.partsSent).toBe(3);
    expect(fake.count('UploadPart') - before).toBe(3);
    expect(fake.uploads.size).toBe(0);
    const key = s.keys.blob(again.record.files[0].sha256);
    expect(fake.objects.get(key)!.body.equals(pseudoRandom(26 * MiB, 7))).toBe(true);
  });

  it('refuses a file that changes while it is uploaded, storing nothing under its name', async () => {
    const fake = new FakeS3();
    const s = store(fake);
    const dir = tmp();
    const file = path.join(dir, 'pages-1.img');
    writeFileSync(file, pseudoRandom(12 * MiB, 9));
    // Rewrite the file (same size) after it was hashed, just before the parts are read.
    fake.failHook = (cmd) => {
      if (cmd === 'CreateMultipartUpload') writeFileSync(file, pseudoRandom(12 * MiB, 10));
      return undefined;
    };
    const err = await expectFailure(s.putLayer('cp-x', layerInput(0), dir), ((e: unknown) => isError(e, LocalLayerInvalid)));
    expect(err.message).toMatch(/changed while it was being uploaded/);
    expect([...fake.objects.keys()].filter((k) => k.includes('/blobs/'))).toEqual([]);
    expect(fake.uploads.size).toBe(0); // aborted: its parts are useless
  });

  it('stops on an AbortSignal after in-flight parts settle', async () => {
    const fake = new FakeS3();
    const s = store(fake, { concurrency: 2 });
    const dir = tmp();
    writeFileSync(path.join(dir, 'pages-1.img'), pseudoRandom(30 * MiB, 8));
    const controller = new AbortController();
    fake.failHook = (cmd) => {
      if (cmd === 'UploadPart' && fake.count('UploadPart') === 2) controller.abort();
      return undefined;
    };
    await expectFailure(s.putLayer('cp-d', layerInput(0), dir, { signal: controller.signal }), ((e: unknown) => isError(e, TransferAborted)));
    const sent = fake.count('UploadPart');
    await new Promise((r) => setTimeout(r, 20));
    expect(fake.count('UploadPart')).toBe(sent);
  });

  it('refuses to mark complete a manifest whose objects are not all stored', async () => {
    const fake = new FakeS3();
    const s = store(fake);
    const chain = makeChain(2, [1000, 2000], 1, tmp());
    await pushLocalChain(s, 'cp-e', chain.dirs[1]);
    const m = await s.readManifest('cp-e');
    const victim = s.keys.blob(m.layers[0].files[0].sha256);
    fake.objects.delete(victim);
    await expectFailure(s.writeManifest(m), (e: unknown) => isError(e, ObjectMissing) && (e as Error).message.includes(victim));
  });

  it('never exposes a corrupted file and refuses incomplete checkpoints unless asked', async () => {
    const fake = new FakeS3();
    const s = store(fake);
    const chain = makeChain(2, [1000, 9 * MiB], 1, tmp());
    await pushLocalChain(s, 'cp-f', chain.dirs[1]);
    const m = await s.readManifest('cp-f');
    const pages = m.layers[1].files.find((f) => f.name === 'pages-1.img')!;
    const obj = fake.objects.get(s.keys.blob(pages.sha256))!;
    obj.body[123] ^= 0xff;
    const into = path.join(tmp(), 'p');
    await expectFailure(s.pullChain('cp-f', into), (e: unknown) => isError(e, ChecksumMismatch) && (e as Error).message.includes(pages.sha256));
    expect(readdirSync(into)).toEqual(['layer-0']); // verified layer kept, bad one never appeared
    obj.body[123] ^= 0xff;
    const retry = await s.pullChain('cp-f', into); // resumes: layer-0 re-verified, layer-1 fetched
    expect(snapshotDir(retry.finalDir).files).toEqual(snapshotDir(chain.dirs[1]).files);

    await s.writeManifest({ ...m, checkpointId: 'cp-g', complete: false, completedAt: null });
    await expectFailure(s.pullChain('cp-g', path.join(tmp(), 'q')), ((e: unknown) => isError(e, CheckpointIncomplete)));
    const partial = await s.pullChain('cp-g', path.join(tmp(), 'q2'), { allowIncomplete: true });
    expect(partial.layerDirs).toHaveLength(2);
  });

  it('resolves a chain reading each base checkpoint once, and refuses one drawing on more than 64 checkpoints', async () => {
    const fake = new FakeS3();
    const s = store(fake);
    const record = (index: number) => ({
      ...layerInput(index),
      files: [{ name: 'inventory.img', size: 3, sha256: 'a'.repeat(64) }],
      bytes: 3,
      storedAt: new Date().toISOString(),
    });
    const manifest = (checkpointId: string, baseLayers: Array<{ checkpointId: string; index: number }>, indexes: number[]) => ({
      formatVersion: 1 as const,
      checkpointId,
      complete: false,
      createdAt: new Date().toISOString(),
      completedAt: null,
      baseLayers,
      layers: indexes.map(record),
    });
    /** A ladder: each level's two checkpoints both build on both of the next level's; the top on level 1. */
    async function ladder(name: string, depth: number) {
      for (const side of ['a', 'b']) await s.writeManifest(manifest(`${name}-${depth}-${side}`, [], [0, 1]));
      for (let level = depth - 1; level >= 0; level--) {
        const bases = [{ checkpointId: `${name}-${level + 1}-a`, index: 0 }, { checkpointId: `${name}-${level + 1}-b`, index: 1 }];
        for (const side of ['a', 'b']) await s.writeManifest(manifest(`${name}-${level}-${side}`, bases, [2]));
      }
      return s.readManifest(`${name}-0-a`);
    }
    const top = await ladder('deep', 12);
    const before = fake.count('GetObject');
    const chain = await s.resolveChain(top);
    expect(chain.map((e) => e.position)).toEqual([0, 1, 2]);
    // Two manifests per level; resolving each reference anew read 2^13 of them.
    expect(fake.count('GetObject') - before).toBeLessThanOrEqual(2 * 12);
    const wide = await ladder('wide', 33);
    await expectFailure(s.resolveChain(wide), (e: unknown) => isError(e, ManifestInvalid) && /refers to more than 64 checkpoints/.test((e as Error).message));
  });

  it('resolves base layers of another checkpoint, and gc/delete never remove what a kept checkpoint needs', async () => {
    const fake = new FakeS3();
    const s = store(fake);
    // warm: two nightly pre-dumps; cp-h builds a final dump on them.
    const warmChain = makeChain(3, [3000, 2000, 1000], 11, tmp());
    const warm = await pushLocalChain(s, 'warm', warmChain.dirs[1]);
    const rec = await s.putLayer('cp-h', { ...layerInput(2), kind: 'dump' }, warmChain.dirs[2]);
    await s.writeManifest({
      formatVersion: 1,
      checkpointId: 'cp-h',
      complete: true,
      createdAt: new Date(Date.now() + 1000).toISOString(),
      completedAt: new Date(Date.now() + 1000).toISOString(),
      baseLayers: [{ checkpointId: 'warm', index: 0 }, { checkpointId: 'warm', index: 1 }],
      layers: [rec],
    });
    const other = makeChain(1, [500], 12, tmp());
    await pushLocalChain(s, 'old', other.dirs[0]);
    fake.objects.get(s.keys.manifest('old'))!.body = Buffer.from(
      JSON.stringify({ ...(await s.readManifest('old')), createdAt: '2020-01-01T00:00:00.000Z', completedAt: '2020-01-01T00:00:00.000Z' }),
    );

    const oldManifest = await s.readManifest('old');
    const d = await s.describe('cp-h');
    expect(d.chain.map((e) => `${e.checkpointId}:${e.position}`)).toEqual(['warm:0', 'warm:1', 'cp-h:2']);
    expect((await s.describe('warm')).usedBy).toEqual(['cp-h']);
    const pulled = await s.pullChain('cp-h', path.join(tmp(), 'h'));
    expect(snapshotDir(pulled.layerDirs[1]).files).toEqual(snapshotDir(warmChain.dirs[1]).files);

    await expectFailure(s.delete('warm'), ((e: unknown) => isError(e, CheckpointInUse)));
    const dry = await s.gc({ keepLast: 1, dryRun: true, graceMs: 0 });
    expect(dry.deleted).toEqual(['old']);
    expect(await s.readManifest('old')).toBeTruthy();
    // Age the blobs past the grace period, then collect for real.
    for (const o of fake.objects.values()) o.lastModified = new Date(0);
    const r = await s.gc({ keepLast: 1, graceMs: 1000 });
    expect(r.kept).toEqual(['cp-h']);
    expect(r.keptAsBase).toEqual(['warm']);
    expect(r.deleted).toEqual(['old']);
    // Blobs are shared by content: only the files of 'old' that no kept checkpoint also has go.
    const keptShas = new Set([...(await s.readManifest('cp-h')).layers, ...(await s.readManifest('warm')).layers].flatMap((l) => l.files.map((f) => f.sha256)));
    const oldOnly = new Set(oldManifest.layers[0].files.map((f) => f.sha256).filter((sha) => !keptShas.has(sha)));
    expect(oldOnly.size).toBeGreaterThanOrEqual(3);
    expect(r.blobsDeleted).toBe(oldOnly.size);
    await expectFailure(s.readManifest('old'), ((e: unknown) => isError(e, CheckpointNotFound)));
    await s.writeManifest({ ...(await s.readManifest('cp-h')) }); // still verifies: nothing it needs was swept
    expect(warm.manifest.layers).toHaveLength(2);

    const del = await s.delete('cp-h');
    const warmShas = new Set((await s.readManifest('warm')).layers.flatMap((l) => l.files.map((f) => f.sha256)));
    expect(del.blobsDeleted).toBe(new Set(rec.files.map((f) => f.sha256).filter((sha) => !warmShas.has(sha))).size);
    for (const l of (await s.readManifest('warm')).layers) for (const f of l.files) expect(fake.objects.has(s.keys.blob(f.sha256))).toBe(true);
    expect((await s.list()).map((x) => x.checkpointId)).toEqual(['warm']);
  });

  it('rejects a directory that is not an images dir and a broken parent link, uploading nothing', async () => {
    const fake = new FakeS3();
    const s = store(fake);
    const dir = tmp();
    await expectFailure(pushLocalChain(s, 'x', path.join(dir, 'absent')), ((e: unknown) => isError(e, LocalLayerInvalid)));
    const chain = makeChain(2, [100, 100], 1, tmp());
    rmSync(chain.dirs[0], { recursive: true });
    await expectFailure(pushLocalChain(s, 'x', chain.dirs[1]), (e: unknown) => isError(e, LocalLayerInvalid) && /parent link/.test((e as Error).message));
    expect(fake.objects.size).toBe(0);
    expect(existsSync(chain.dirs[1])).toBe(true);
  });
});
