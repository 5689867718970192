/**
 * Client-side encryption and server-side encryption settings against a real MinIO (a private
 * one, started with a static KMS key so that SSE-S3 / SSE-KMS work; a second one without a KMS
 * for the refusal). A real CRIU dump goes up encrypted and comes back byte-identical; no 4 KiB
 * page of it is visible in the bucket; a wrong key, a flipped byte and a truncated object each
 * fail typed with nothing written; the CLI with a key never prints it.
 * Needs CRIU and MinIO: a missing one fails these tests.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { EncryptionKey } from '../../src/config/encryption-key';
import {
  LayerStore,
  pushLocalChain,
  type ServerSideEncryptionSetting,
} from '../../src/storage';
import { findCriu } from '../helpers/binaries';
import { PrivateMinio } from '../helpers/minio';
import { expectFailure, makeChain, snapshotDir } from '../helpers/storage-fixtures';
import { isError, DecryptionFailed, EncryptionKeyMismatch, ServerSideEncryptionRefused } from '../../src/core';
import { criuEnvironment } from '../../src/criu/binary';

jest.setTimeout(300_000);
const root = path.resolve(__dirname, '../..');
const keyHex = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff)).toString('hex');
const key = new EncryptionKey(Buffer.from(keyHex, 'hex'));
const otherKey = new EncryptionKey(Buffer.alloc(32, 0x5a));

let minio: PrivateMinio;
let work: string;

function store(client: S3Client, k: EncryptionKey | null, sse?: ServerSideEncryptionSetting): LayerStore {
  return new LayerStore({ client, bucket: 'enc', prefix: 'enc', partSize: 5 * 1024 * 1024, concurrency: 2, encryptionKey: k, ...(sse ? { sse } : {}) });
}

async function objectBodies(client: S3Client, prefix: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const list = await client.send(new ListObjectsV2Command({ Bucket: 'enc', Prefix: prefix }));
  for (const o of list.Contents ?? []) {
    const got = await client.send(new GetObjectCommand({ Bucket: 'enc', Key: o.Key! }));
    out.set(o.Key!, Buffer.from(await got.Body!.transformToByteArray()));
  }
  return out;
}

beforeAll(async () => {
  minio = new PrivateMinio({ MINIO_KMS_SECRET_KEY: `ferry-test-key:${Buffer.alloc(32, 3).toString('base64')}` });
  await minio.start();
  await minio.createBucket('enc');
  work = mkdtempSync(path.join(os.tmpdir(), 'ferry-enc-it-'));
});

afterAll(async () => {
  await minio?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('a real CRIU dump, encrypted', () => {
  let dumpDir: string;

  beforeAll(async () => {
    const criu = findCriu();
    // detached: Node makes the child a session leader (setsid), as CRIU wants for a plain dump.
    const child = spawn('sleep', ['600'], { stdio: 'ignore', detached: true });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => resolve(child.pid!));
    });
    dumpDir = path.join(work, 'dump');
    mkdirSync(dumpDir);
    try {
      await promisify(execFile)(criu, ['dump', '--leave-running', '-t', String(pid), '-D', dumpDir, '-o', 'dump.log', '-v4'], { env: criuEnvironment() });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('round-trips byte-identical, and no 4 KiB page of the plaintext is in any stored object', async () => {
    const s = store(minio.client(), key);
    const pushed = await pushLocalChain(s, 'real-enc', dumpDir, { criuVersion: 'test' });
    expect(pushed.manifest.formatVersion).toBe(2);
    expect(pushed.manifest.layers[0].encryption).toEqual({ scheme: 'aes-256-gcm-seg1', keyId: key.id, segmentSize: 1024 * 1024 });
    const pulled = await s.pullChain('real-enc', path.join(work, 'pulled'));
    expect(snapshotDir(pulled.finalDir)).toEqual(snapshotDir(dumpDir));

    const bodies = await objectBodies(minio.client(), 'enc/blobs/');
    expect(bodies.size).toBe(new Set(pushed.manifest.layers[0].files.map((f) => f.sha256)).size);
    let pages = 0;
    for (const f of pushed.manifest.layers[0].files) {
      expect(f.blob).toMatch(/^[0-9a-f]{64}$/);
      const plain = readFileSync(path.join(dumpDir, f.name));
      // Every aligned 4 KiB page, and small files whole (they are shorter than a page).
      const probes = plain.length < 4096 ? (plain.length >= 32 ? [plain] : []) : [];
      for (let o = 0; o + 4096 <= plain.length; o += 4096) probes.push(plain.subarray(o, o + 4096));
      for (const probe of probes) {
        pages++;
        for (const body of bodies.values()) expect(body.indexOf(probe)).toBe(-1);
      }
    }
    expect(pages).toBeGreaterThan(10);
    for (const k of bodies.keys()) expect(k).toMatch(/^enc\/blobs\/aes256gcm\/[0-9a-f]{64}$/);
  });

  it('a wrong key, a flipped byte and a truncated object each fail typed, naming the object, with nothing written', async () => {
    const into = path.join(work, 'wrong-key');
    const wrong = await expectFailure(store(minio.client(), otherKey).pullChain('real-enc', into), ((e: unknown) => isError(e, EncryptionKeyMismatch)));
    expect(wrong.message).toContain(key.id);
    expect(wrong.message).not.toContain(keyHex);
    // Refused before the target dir is even created.
    expect(existsSync(into)).toBe(false);

    const manifest = await store(minio.client(), key).readManifest('real-enc');
    const biggest = [...manifest.layers[0].files].sort((a, b) => b.size - a.size)[0];
    const objKey = `enc/blobs/aes256gcm/${biggest.blob!}`;
    const original = (await objectBodies(minio.client(), objKey)).get(objKey)!;
    try {
      const flipped = Buffer.from(original);
      flipped[Math.floor(flipped.length / 2)] ^= 0x01;
      await minio.client().send(new PutObjectCommand({ Bucket: 'enc', Key: objKey, Body: flipped }));
      const into2 = path.join(work, 'flipped');
      const err = await expectFailure(store(minio.client(), key).pullChain('real-enc', into2), ((e: unknown) => isError(e, DecryptionFailed)));
      expect(err.message).toContain(objKey);
      expect(readdirSync(into2)).toEqual([]);

      await minio.client().send(new PutObjectCommand({ Bucket: 'enc', Key: objKey, Body: original.subarray(0, original.length - 17) }));
      const into3 = path.join(work, 'truncated');
      const err2 = await expectFailure(store(minio.client(), key).pullChain('real-enc', into3), ((e: unknown) => isError(e, DecryptionFailed)));
      expect(err2.message).toContain(objKey);
      expect(readdirSync(into3)).toEqual([]);
    } finally {
      await minio.client().send(new PutObjectCommand({ Bucket: 'enc', Key: objKey, Body: original }));
    }
  });
});

describe('server-side encryption settings', () => {
  /** Records the SSE headers of every write request as sent on the wire. */
  function spy(client: S3Client): Array<{ command: string; sse?: string; kms?: string }> {
    const seen: Array<{ command: string; sse?: string; kms?: string }> = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
        const command = (context as { commandName?: string }).commandName ?? '?';
        if (/Put|Create|UploadPart/.test(command)) {
          seen.push({ command, sse: headers['x-amz-server-side-encryption'], kms: headers['x-amz-server-side-encryption-aws-kms-key-id'] });
        }
        return next(args);
      },
      { step: 'finalizeRequest', name: 'sseSpy' },
    );
    return seen;
  }

  it('sends FERRY_S3_SSE on every put and multipart create; MinIO with a KMS stores the objects encrypted', async () => {
    for (const sse of [{ mode: 'AES256' as const }, { mode: 'aws:kms' as const, kmsKeyId: 'ferry-test-key' }]) {
      const client = minio.client();
      const seen = spy(client);
      const chain = makeChain(1, [7 * 1024 * 1024], sse.mode === 'AES256' ? 11 : 12, mkdtempSync(path.join(work, 'sse-')));
      const pushed = await pushLocalChain(store(client, key, sse), `sse-${sse.mode.replace(':', '-')}`, chain.dirs[0]);
      const writes = seen.filter((w) => w.command === 'PutObjectCommand' || w.command === 'CreateMultipartUploadCommand');
      expect(writes.length).toBeGreaterThanOrEqual(2);
      expect(seen.some((w) => w.command === 'CreateMultipartUploadCommand')).toBe(true);
      for (const w of writes.filter((x) => x.command === 'CreateMultipartUploadCommand')) expect(w.sse).toBe(sse.mode);
      // Small files equal to those of the other run were already stored (deduplicated): check the pages.
      for (const f of pushed.manifest.layers[0].files.filter((x) => x.size > 1024 * 1024)) {
        const head = await client.send(new HeadObjectCommand({ Bucket: 'enc', Key: `enc/blobs/aes256gcm/${f.blob!}` }));
        expect(head.ServerSideEncryption).toBe(sse.mode);
        if (sse.kmsKeyId) expect(head.SSEKMSKeyId).toContain('ferry-test-key');
      }
    }
  });

  it('a store without a KMS refuses SSE with a clear, non-retryable error', async () => {
    const plain = new PrivateMinio();
    await plain.start();
    try {
      await plain.createBucket('enc');
      const chain = makeChain(1, [4096], 13, mkdtempSync(path.join(work, 'nokms-')));
      const err = await expectFailure(pushLocalChain(store(plain.client(), null, { mode: 'AES256' }), 'nokms', chain.dirs[0]), ((e: unknown) => isError(e, ServerSideEncryptionRefused)));
      expect(err.message).toMatch(/refused server-side encryption AES256/);
      expect(err.message).toContain('FERRY_S3_SSE');
    } finally {
      await plain.stop();
    }
  });
});

describe('the CLI with a key configured', () => {
  interface Run {
    code: number;
    stdout: string;
    stderr: string;
  }
  let env: NodeJS.ProcessEnv;
  const ferry = (args: string[], over: NodeJS.ProcessEnv = {}): Promise<Run> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        ['-r', path.join(root, 'bench/storage-ts-register.js'), path.join(__dirname, 'storage-cli-main.ts'), ...args],
        { cwd: root, env: Object.fromEntries(Object.entries({ ...env, ...over }).filter(([, v]) => v !== undefined)), maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const forms = [keyHex, Buffer.from(keyHex, 'hex').toString('base64'), Buffer.from(keyHex, 'hex').toString('base64url')];
  const noKey = (r: Run): void => {
    for (const f of forms) expect(r.stdout + r.stderr).not.toContain(f);
  };

  it('pushes, shows and pulls encrypted; the key appears in no output, errors included', async () => {
    const keyFile = path.join(work, 'ferry.key');
    writeFileSync(keyFile, `${keyHex}\n`, { mode: 0o600 });
    env = {
      PATH: process.env.PATH,
      HOME: work,
      FERRY_STATE_DIR: path.join(work, 'state'),
      FERRY_S3_ENDPOINT: minio.endpoint,
      FERRY_S3_BUCKET: 'enc',
      FERRY_S3_PREFIX: 'cli',
      AWS_SHARED_CREDENTIALS_FILE: minio.writeCredentialsFile('ferry-enc-test'),
      AWS_PROFILE: 'ferry-enc-test',
      AWS_REGION: 'us-east-1',
      FERRY_ENCRYPTION_KEY_FILE: keyFile,
    };
    const chain = makeChain(2, [6 * 1024 * 1024, 8192], 78, mkdtempSync(path.join(work, 'cli-chain-')));
    const runs: Run[] = [];
    const push = await ferry(['push', chain.dirs[1], '--checkpoint', 'cli-enc']);
    runs.push(push);
    expect(push.code).toBe(0);
    const show = await ferry(['checkpoints', 'show', 'cli-enc']);
    runs.push(show);
    expect(show.stdout).toContain(`encrypted (key ${key.id})`);
    runs.push(await ferry(['checkpoints', 'show', 'cli-enc', '--json']));
    runs.push(await ferry(['checkpoints', 'ls', '--json']));
    const into = path.join(work, 'cli-pulled');
    const pull = await ferry(['pull', 'cli-enc', '--into', into, '--json']);
    runs.push(pull);
    expect(pull.code).toBe(0);
    expect(snapshotDir(path.join(into, 'layer-1')).files).toEqual(snapshotDir(chain.dirs[1]).files);
    // The key from the environment instead of the file works the same.
    const fromEnv = await ferry(['pull', 'cli-enc', '--into', path.join(work, 'cli-pulled-env')], { FERRY_ENCRYPTION_KEY_FILE: undefined, FERRY_ENCRYPTION_KEY: forms[1] });
    runs.push(fromEnv);
    expect(fromEnv.code).toBe(0);

    const otherFile = path.join(work, 'other.key');
    writeFileSync(otherFile, Buffer.alloc(32, 0x5a).toString('hex'), { mode: 0o600 });
    const wrong = await ferry(['pull', 'cli-enc', '--into', path.join(work, 'cli-wrong')], { FERRY_ENCRYPTION_KEY_FILE: otherFile });
    runs.push(wrong);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/encrypted with key [0-9a-f]{16}, but the configured key is [0-9a-f]{16}/);
    const both = await ferry(['checkpoints', 'ls'], { FERRY_ENCRYPTION_KEY: keyHex });
    runs.push(both);
    expect(both.code).toBe(78);
    writeFileSync(keyFile, `${keyHex}\n`, { mode: 0o644 });
    const { chmodSync } = await import('node:fs');
    chmodSync(keyFile, 0o644);
    const open = await ferry(['checkpoints', 'ls']);
    runs.push(open);
    expect(open.code).toBe(78);
    expect(open.stderr).toMatch(/FERRY_ENCRYPTION_KEY_FILE .*chmod 600/);
    const badText = await ferry(['checkpoints', 'ls'], { FERRY_ENCRYPTION_KEY_FILE: undefined, FERRY_ENCRYPTION_KEY: keyHex.slice(2) });
    runs.push(badText);
    expect(badText.code).toBe(78);
    expect(badText.stderr + badText.stdout).not.toContain(keyHex.slice(2));
    for (const r of runs) noKey(r);
  });
});
