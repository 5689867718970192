/**
 * Client-side encryption of layers: the segment format on its own (round trip, tampering,
 * truncation at a segment boundary, reordering, ranges), the key loader, and the store with
 * encryption on an in-memory S3 (round trip, keyed names, wrong key, plaintext refused, resume).
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { inspect } from 'node:util';
import { EncryptionKey, EncryptionKeyInvalid, loadEncryptionKey } from '../../src/config/encryption-key';
import { loadConfig, ConfigError } from '../../src/config/config';
import { BlobCipher, DecryptStream, HEADER_BYTES, TAG_BYTES, readCipherRange, segmentCount } from '../../src/storage/blob-cipher';
import {
  LayerStore,
  pushLocalChain,
} from '../../src/storage';
import { FakeS3 } from '../helpers/fake-s3';
import { expectFailure, makeChain, pseudoRandom, snapshotDir } from '../helpers/storage-fixtures';
import { isError, DecryptionFailed, EncryptionKeyMismatch, ManifestInvalid, UnencryptedLayerRefused } from '../../src/core';
import type { CheckpointManifest } from '../../src/storage/types';

const MiB = 1024 * 1024;
const SEG = 4096;
const scratch: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'ferry-enc-'));
  scratch.push(d);
  return d;
};
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

const keyA = new EncryptionKey(Buffer.alloc(32, 7));
const keyB = new EncryptionKey(Buffer.alloc(32, 9));

/** Seals a whole buffer through readCipherRange (the upload path) in one range. */
async function seal(cipher: BlobCipher, plain: Buffer, sha: string): Promise<Buffer> {
  const dir = tmp();
  const file = path.join(dir, 'p');
  writeFileSync(file, plain);
  const segs: number[] = [];
  for (let i = 0; i < segmentCount(plain.length, cipher.segmentSize); i++) segs.push(crc32(plain.subarray(i * cipher.segmentSize, (i + 1) * cipher.segmentSize)));
  const fh = await open(file, 'r');
  try {
    const out = Buffer.alloc(cipher.ciphertextSize(plain.length));
    await readCipherRange(cipher.object(sha), { fh, path: file, size: plain.length, segmentCrc32: segs }, 0, out.length, out);
    return out;
  } finally {
    await fh.close();
  }
}

async function unseal(cipher: BlobCipher, sealed: Buffer, sha: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  // Feed in odd-sized chunks, as a socket would.
  const chunks: Buffer[] = [];
  for (let o = 0; o < sealed.length; o += 1000) chunks.push(sealed.subarray(o, o + 1000));
  await pipeline(Readable.from(chunks), new DecryptStream(cipher, sha, 'obj/x'), async function (src: AsyncIterable<Buffer>) {
    for await (const c of src) parts.push(c);
  });
  return Buffer.concat(parts);
}

describe('blob format', () => {
  const cipher = new BlobCipher(keyA, SEG);
  const plain = pseudoRandom(SEG * 3 + 123, 5);
  const sha = createHash('sha256').update(plain).digest('hex');

  it('round-trips, including empty and exact-multiple sizes', async () => {
    for (const p of [plain, Buffer.alloc(0), pseudoRandom(SEG * 2, 3)]) {
      const h = createHash('sha256').update(p).digest('hex');
      const sealed = await seal(cipher, p, h);
      expect(sealed.length).toBe(cipher.ciphertextSize(p.length));
      expect((await unseal(cipher, sealed, h)).equals(p)).toBe(true);
    }
  });

  it('is deterministic and any range equals the same slice of the whole (resumed parts match)', async () => {
    const whole = await seal(cipher, plain, sha);
    expect((await seal(cipher, plain, sha)).equals(whole)).toBe(true);
    const dir = tmp();
    const file = path.join(dir, 'p');
    writeFileSync(file, plain);
    const segs = [0, 1, 2, 3].map((i) => crc32(plain.subarray(i * SEG, (i + 1) * SEG)));
    const fh = await open(file, 'r');
    for (const [start, len] of [[0, 10], [5, 5000], [HEADER_BYTES + SEG, 17], [whole.length - 100, 100], [4000, 8300]]) {
      const out = Buffer.alloc(len);
      await readCipherRange(cipher.object(sha), { fh, path: file, size: plain.length, segmentCrc32: segs }, start, len, out);
      expect(out.equals(whole.subarray(start, start + len))).toBe(true);
    }
    await fh.close();
  });

  it('detects a flipped byte, truncation at a segment boundary, reordered segments, and a wrong key', async () => {
    const whole = await seal(cipher, plain, sha);
    const flipped = Buffer.from(whole);
    flipped[HEADER_BYTES + 10] ^= 1;
    await expectFailure(unseal(cipher, flipped, sha), ((e: unknown) => isError(e, DecryptionFailed)));
    const stride = SEG + TAG_BYTES;
    await expectFailure(unseal(cipher, whole.subarray(0, HEADER_BYTES + 2 * stride), sha), ((e: unknown) => isError(e, DecryptionFailed)));
    const swapped = Buffer.concat([whole.subarray(0, HEADER_BYTES), whole.subarray(HEADER_BYTES + stride, HEADER_BYTES + 2 * stride), whole.subarray(HEADER_BYTES, HEADER_BYTES + stride), whole.subarray(HEADER_BYTES + 2 * stride)]);
    await expectFailure(unseal(cipher, swapped, sha), ((e: unknown) => isError(e, DecryptionFailed)));
    const err = await expectFailure(unseal(new BlobCipher(keyB, SEG), whole, sha), ((e: unknown) => isError(e, DecryptionFailed)));
    expect(err.message).toContain(keyA.id);
    expect(err.message).toContain('obj/x');
  });

  it('names blobs by a keyed hash: no plaintext hash, different under another key', () => {
    expect(cipher.blobName(sha)).not.toBe(sha);
    expect(new BlobCipher(keyB, SEG).blobName(sha)).not.toBe(cipher.blobName(sha));
  });
});

describe('key loading', () => {
  const hex = 'ab'.repeat(32);
  it('reads hex or base64 from a 0600 file or the environment, and never shows the key', () => {
    const dir = tmp();
    const file = path.join(dir, 'k');
    writeFileSync(file, hex + '\n', { mode: 0o600 });
    const k = loadEncryptionKey({ FERRY_ENCRYPTION_KEY_FILE: file })!;
    expect(k.reveal().toString('hex')).toBe(hex);
    expect(loadEncryptionKey({ FERRY_ENCRYPTION_KEY: Buffer.from(hex, 'hex').toString('base64') })!.id).toBe(k.id);
    for (const shown of [JSON.stringify(k), inspect(k), String(k), JSON.stringify(loadConfig({ FERRY_ENCRYPTION_KEY_FILE: file }))]) {
      expect(shown).not.toContain(hex);
      expect(shown).not.toContain(Buffer.from(hex, 'hex').toString('base64'));
    }
    expect(loadConfig({ FERRY_ENCRYPTION_KEY_FILE: file }).encryption).toEqual({ keyId: k.id, source: 'FERRY_ENCRYPTION_KEY_FILE', keyFile: file });
    expect(loadEncryptionKey({})).toBeNull();
  });

  it('refuses a key file owned by another user, mode 600 or not', () => {
    const file = path.join(tmp(), 'k');
    writeFileSync(file, hex, { mode: 0o600 });
    // Ours (the suite runs as root, as ferry's workers do): fine. Handed to nobody: refused.
    expect(loadEncryptionKey({ FERRY_ENCRYPTION_KEY_FILE: file })).not.toBeNull();
    chownSync(file, 65534, 65534);
    expect(() => loadEncryptionKey({ FERRY_ENCRYPTION_KEY_FILE: file })).toThrow(/FERRY_ENCRYPTION_KEY_FILE names a file owned by uid 65534; .*chown it/);
  });

  it('refuses group-readable files, bad text and both settings, naming the setting but not the value', () => {
    const dir = tmp();
    const file = path.join(dir, 'k');
    writeFileSync(file, hex);
    chmodSync(file, 0o640);
    expect(() => loadEncryptionKey({ FERRY_ENCRYPTION_KEY_FILE: file })).toThrow(/FERRY_ENCRYPTION_KEY_FILE .*group or others/);
    const secretish = 'cd'.repeat(31);
    for (const env of [{ FERRY_ENCRYPTION_KEY: secretish }, { FERRY_ENCRYPTION_KEY: hex, FERRY_ENCRYPTION_KEY_FILE: file }]) {
      let err: unknown;
      try {
        loadConfig(env);
      } catch (e) {
        err = e;
      }
      expect(isError(err, ConfigError)).toBe(true);
      expect((err as Error).message).toContain('FERRY_ENCRYPTION_KEY');
      expect((err as Error).message).not.toContain(secretish);
      expect((err as Error).message).not.toContain(hex);
    }
    expect(isError(((): unknown => { try { loadEncryptionKey({ FERRY_ENCRYPTION_KEY: 'x' }); } catch (e) { return e; } return null; })(), EncryptionKeyInvalid)).toBe(true);
  });

  it('validates FERRY_S3_SSE and its KMS key id', () => {
    expect(loadConfig({ FERRY_S3_SSE: 'aws:kms', FERRY_S3_SSE_KMS_KEY_ID: 'alias/x' }).s3.sse).toEqual({ mode: 'aws:kms', kmsKeyId: 'alias/x' });
    expect(() => loadConfig({ FERRY_S3_SSE: 'rot13' })).toThrow(/FERRY_S3_SSE must be AES256 or aws:kms/);
    expect(() => loadConfig({ FERRY_S3_SSE: 'AES256', FERRY_S3_SSE_KMS_KEY_ID: 'k' })).toThrow(/FERRY_S3_SSE_KMS_KEY_ID/);
    expect(() => loadConfig({ FERRY_S3_REQUEST_TIMEOUT_MS: '5' })).toThrow(/FERRY_S3_REQUEST_TIMEOUT_MS/);
  });
});

describe('LayerStore with encryption (in-memory S3)', () => {
  const mk = (fake: FakeS3, key: EncryptionKey | null): LayerStore =>
    new LayerStore({ client: fake.asClient(), bucket: 'ferry', prefix: 'ferry', host: 'h', partSize: 5 * MiB, concurrency: 3, encryptionKey: key, segmentSize: 64 * 1024 });

  it('round-trips a chain, stores no plaintext hash, and a second push sends nothing', async () => {
    const fake = new FakeS3();
    const chain = makeChain(2, [12 * MiB, 3000], 1, tmp());
    const pushed = await pushLocalChain(mk(fake, keyA), 'enc-1', chain.dirs[1]);
    expect(pushed.manifest.formatVersion).toBe(2);
    expect(pushed.manifest.layers.every((l) => l.encryption?.keyId === keyA.id)).toBe(true);
    const keys = [...fake.objects.keys()].filter((k) => k.includes('/blobs/'));
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(k).toMatch(/\/blobs\/aes256gcm\/[0-9a-f]{64}$/);
    const shas = pushed.manifest.layers.flatMap((l) => l.files.map((f) => f.sha256));
    for (const k of keys) {
      expect(shas.some((s) => k.endsWith(s))).toBe(false);
      expect(JSON.stringify(fake.objects.get(k)!.metadata)).not.toMatch(/[0-9a-f]{64}/);
    }
    const into = path.join(tmp(), 'pulled');
    const { layerDirs } = await mk(fake, keyA).pullChain('enc-1', into);
    expect(snapshotDir(layerDirs[1]).files).toEqual(snapshotDir(chain.dirs[1]).files);
    // The same chain again sends nothing (keyed names are stable).
    const again = await pushLocalChain(mk(fake, keyA), 'enc-1', chain.dirs[1]);
    expect(again.report.bytesSent).toBe(0);
  });

  it('refuses a wrong or missing key and, with a key, plaintext layers unless allowed; nothing is written', async () => {
    const fake = new FakeS3();
    const chain = makeChain(1, [2 * MiB], 2, tmp());
    await pushLocalChain(mk(fake, keyA), 'enc-2', chain.dirs[0]);
    await pushLocalChain(mk(fake, null), 'plain-2', chain.dirs[0]);
    const into = path.join(tmp(), 'x');
    const wrong = await expectFailure(mk(fake, keyB).pullChain('enc-2', into), ((e: unknown) => isError(e, EncryptionKeyMismatch)));
    expect(wrong.message).toContain(keyA.id);
    await expectFailure(mk(fake, null).pullChain('enc-2', into), ((e: unknown) => isError(e, EncryptionKeyMismatch)));
    await expectFailure(mk(fake, keyA).pullChain('plain-2', into), ((e: unknown) => isError(e, UnencryptedLayerRefused)));
    await mk(fake, keyA).pullChain('plain-2', path.join(tmp(), 'ok'), { allowUnencrypted: true });
    // A stored object altered in place fails authentication and leaves no layer dir.
    // The largest blob: uploads finish in any order, and a byte past the end of a small blob
    // (some are under 100 bytes) cannot be flipped, which left the pull below nothing to catch.
    const blobKey = [...fake.objects.keys()].filter((k) => k.includes('/aes256gcm/')).sort((a, b) => fake.objects.get(b)!.body.length - fake.objects.get(a)!.body.length)[0]!;
    expect(fake.objects.get(blobKey)!.body.length).toBeGreaterThan(100);
    fake.objects.get(blobKey)!.body[100] ^= 1;
    const into2 = path.join(tmp(), 'y');
    await expectFailure(mk(fake, keyA).pullChain('enc-2', into2), ((e: unknown) => isError(e, DecryptionFailed)));
    expect(readdirSync(into2)).toEqual([]);
  });

  it('a manifest changed after ferry wrote it is refused, whatever was changed; one without a code only when allowed', async () => {
    const fake = new FakeS3();
    const first = makeChain(2, [1 * MiB, 1 * MiB], 4, tmp());
    const other = makeChain(1, [1 * MiB], 5, tmp());
    await pushLocalChain(mk(fake, keyA), 'auth-1', first.dirs[1]);
    await pushLocalChain(mk(fake, keyA), 'auth-2', other.dirs[0]);
    const manifestKey = (id: string) => [...fake.objects.keys()].find((k) => k.endsWith(`/checkpoints/${id}/manifest.json`))!;
    const original = fake.objects.get(manifestKey('auth-1'))!.body;
    const manifest = () => JSON.parse(original.toString('utf8')) as CheckpointManifest;
    const tamper = (change: (m: CheckpointManifest) => void) => {
      const m = manifest();
      change(m);
      fake.objects.get(manifestKey('auth-1'))!.body = Buffer.from(JSON.stringify(m));
    };
    expect(manifest().auth).toMatchObject({ alg: 'hmac-sha256-v1', keyId: keyA.id });
    const pages = (m: CheckpointManifest, i: number) => m.layers[i]!.files.find((f) => f.name.startsWith('pages-'))!;
    const attacks: Array<[string, (m: CheckpointManifest) => void]> = [
      ['the pages files of two layers swapped', (m) => {
        const [a, b] = [pages(m, 0), pages(m, 1)];
        [a.sha256, b.sha256, a.blob, b.blob] = [b.sha256, a.sha256, b.blob, a.blob];
      }],
      ['a file record taken from another checkpoint', (m) => {
        const theirs = (JSON.parse(fake.objects.get(manifestKey('auth-2'))!.body.toString('utf8')) as CheckpointManifest).layers[0]!.files.find((f) => f.name.startsWith('pages-'))!;
        Object.assign(pages(m, 1), theirs);
      }],
      ['a field rewritten', (m) => Object.assign(m, { completedAt: new Date(0).toISOString() })],
    ];
    for (const [what, change] of attacks) {
      tamper(change);
      const err = await expectFailure(mk(fake, keyA).pullChain('auth-1', path.join(tmp(), 'x')), (e: unknown) => isError(e, ManifestInvalid));
      expect([what, err.message]).toEqual([what, expect.stringMatching(/authentication code does not match: it was changed after ferry wrote it/)]);
    }
    // The code stripped: refused, unless the operator says to trust such manifests.
    tamper((m) => delete m.auth);
    const stripped = await expectFailure(mk(fake, keyA).pullChain('auth-1', path.join(tmp(), 'y')), (e: unknown) => isError(e, ManifestInvalid));
    expect(stripped.message).toMatch(/carries no authentication code.*FERRY_ALLOW_UNAUTHENTICATED_CHECKPOINTS=true/);
    const trusting = new LayerStore({ client: fake.asClient(), bucket: 'ferry', prefix: 'ferry', host: 'h', partSize: 5 * MiB, concurrency: 3, encryptionKey: keyA, segmentSize: 64 * 1024, allowUnauthenticated: true });
    await trusting.pullChain('auth-1', path.join(tmp(), 'z'));
    // Untouched, it pulls.
    fake.objects.get(manifestKey('auth-1'))!.body = original;
    await mk(fake, keyA).pullChain('auth-1', path.join(tmp(), 'ok'));
  });

  it('gc and rm find encrypted blobs without the key', async () => {
    const fake = new FakeS3();
    const chain = makeChain(1, [1 * MiB], 3, tmp());
    await pushLocalChain(mk(fake, keyA), 'enc-3', chain.dirs[0]);
    const res = await mk(fake, null).delete('enc-3');
    expect(res.blobsDeleted).toBeGreaterThan(0);
    expect([...fake.objects.keys()].filter((k) => k.includes('/blobs/'))).toEqual([]);
  });
});
