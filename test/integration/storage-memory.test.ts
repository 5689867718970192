/**
 * A 256 MiB layer goes up multipart and comes back while the process's peak memory stays far
 * below the file size: measured as VmHWM in a separate process that does only the transfer.
 */
import { execFile } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PrivateMinio } from '../helpers/minio';

jest.setTimeout(600_000);
const MiB = 1024 * 1024;
const FILE_MiB = 256;

let minio: PrivateMinio;
let work: string;

async function writeRandomFile(file: string, mib: number): Promise<void> {
  // Incompressible bytes, generated in 1 MiB steps so the test itself stays small in memory.
  const cipher = createCipheriv('aes-256-ctr', randomBytes(32), Buffer.alloc(16));
  const out = createWriteStream(file);
  const zero = Buffer.alloc(MiB);
  for (let i = 0; i < mib; i++) {
    if (!out.write(cipher.update(zero))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

beforeAll(async () => {
  minio = new PrivateMinio();
  await minio.start();
  await minio.createBucket('mem');
  work = mkdtempSync(path.join(os.tmpdir(), 'ferry-mem-'));
});

afterAll(async () => {
  await minio?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

let dir: string;

async function runChild(encryptionKeyHex: string | null, into: string): Promise<Record<string, number>> {
  if (!dir) {
    dir = path.join(work, 'layer');
    mkdirSync(dir);
    await writeRandomFile(path.join(dir, 'pages-1.img'), FILE_MiB);
  }
  const root = path.resolve(__dirname, '../..');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', '-r', path.join(root, 'bench/storage-ts-register.js'), path.join(__dirname, 'storage-memory-child.ts')],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        MINIO_ENDPOINT: minio.endpoint,
        MINIO_ACCESS_KEY: minio.accessKey,
        MINIO_SECRET_KEY: minio.secretKey,
        BUCKET: 'mem',
        FILE_DIR: dir,
        INTO_DIR: path.join(work, into),
        ...(encryptionKeyHex ? { ENCRYPTION_KEY_HEX: encryptionKeyHex } : {}),
      },
      maxBuffer: 1024 * 1024,
    },
  );
  const r = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, number>;
  console.log(`memory (KiB)${encryptionKeyHex ? ', encrypted' : ''}: ${JSON.stringify(r)}`);
  return r;
}

it(`uploads and downloads a ${FILE_MiB} MiB file with bounded memory`, async () => {
  const r = await runChild(null, 'pulled');
  expect(r.bytes).toBe(FILE_MiB * MiB);
  expect(r.parts).toBe(FILE_MiB / 16); // multipart, 16 MiB parts
  // 4 part buffers of 16 MiB plus HTTP/SDK overhead; buffering the file would add >= 256 MiB.
  const boundKiB = 128 * 1024;
  expect(r.uploadPeakKiB - r.baselineKiB).toBeLessThan(boundKiB);
  expect(r.downloadPeakKiB - r.baseline2KiB).toBeLessThan(boundKiB);
  expect(r.uploadPeakKiB).toBeLessThan((FILE_MiB * 1024));
});

it(`uploads and downloads a ${FILE_MiB} MiB file encrypted with bounded memory`, async () => {
  const r = await runChild(randomBytes(32).toString('hex'), 'pulled-enc');
  expect(r.bytes).toBe(FILE_MiB * MiB);
  expect(r.encrypted).toBe(true);
  // The ciphertext is 32 + 16 bytes per 1 MiB segment larger, so one more 16 MiB part.
  expect(r.parts).toBe(FILE_MiB / 16 + 1);
  // Sealing adds about one 1 MiB segment per part in flight; decrypting holds about two segments.
  const boundKiB = 128 * 1024;
  expect(r.uploadPeakKiB - r.baselineKiB).toBeLessThan(boundKiB);
  expect(r.downloadPeakKiB - r.baseline2KiB).toBeLessThan(boundKiB);
  expect(r.uploadPeakKiB).toBeLessThan(FILE_MiB * 1024);
});
