/**
 * Layer-store throughput: a 1 GiB layer up to and down from MinIO on loopback, side by side in
 * one run with baselines that move the same bytes:
 *   - ferry        LayerStore.putLayer / pullChain (SHA-256 of the file, parallel multipart with
 *                  per-part server-verified CRC32 / one GET stream or parallel ranged GETs,
 *                  SHA-256 verified, then renamed into place)
 *   - ferry-enc    the same with client-side encryption (AES-256-GCM, 1 MiB segments)
 *   - sdk-single   one plain PutObject (streamed body) / one GetObject piped to a file, AWS SDK v3
 *   - aws-cli      `aws s3 cp` (if the AWS CLI is installed)
 * Each transfer runs in its own child process under /usr/bin/time, so the peak RSS is that
 * transfer's alone. Medians of N rounds (default 3); rounds interleave the variants, rotating
 * their order, with a `sync` before each transfer, so that noise and writeback hit all alike. Results go to bench/results/storage.md (and stdout).
 *
 * Run: node -r ./bench/storage-ts-register.js bench/storage-throughput.ts [--size-mib 1024] [--rounds 3]
 * Uses a private MinIO (the minio binary the dev stack uses) on a free loopback port.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { createWriteStream, createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LayerStore } from '../src/storage';
import benchLayer from './bench-layer.json';
import { EncryptionKey } from '../src/config/encryption-key';
import { PrivateMinio } from '../test/helpers/minio';

const MiB = 1024 * 1024;
const BUCKET = 'bench';

interface WorkerEnv {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  file: string;
  dir: string;
  into: string;
  prefix: string;
  /** Hex key for the ferry-enc-* variants (a throwaway key made for the run). */
  keyHex: string;
}

function client(env: WorkerEnv): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: env.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: env.accessKey, secretAccessKey: env.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function vmHwmKiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : -1;
}

/** One transfer in this (child) process; prints {seconds, deltaKiB} as the last stdout line. */
async function runWorker(variant: string): Promise<void> {
  const env = JSON.parse(process.env.FERRY_BENCH_ENV ?? '{}') as WorkerEnv;
  const c = client(env);
  await c.send(new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: 1 })); // connection + SDK warm
  writeFileSync('/proc/self/clear_refs', '5');
  const before = vmHwmKiB();
  const layer = { ...benchLayer, kind: 'dump' as const, kernel: os.release() };
  const store = new LayerStore({ client: c, bucket: BUCKET, prefix: env.prefix, encryptionKey: null });
  const encStore = new LayerStore({ client: c, bucket: BUCKET, prefix: env.prefix, encryptionKey: new EncryptionKey(Buffer.from(env.keyHex, 'hex')) });
  const t0 = process.hrtime.bigint();
  switch (variant) {
    case 'ferry-up': {
      const record = await store.putLayer('bench', layer, env.dir);
      await store.writeManifest({ formatVersion: 1, checkpointId: 'bench', complete: true, createdAt: new Date().toISOString(), completedAt: new Date().toISOString(), layers: [record], baseLayers: [] });
      break;
    }
    case 'ferry-down':
      await store.pullChain('bench', env.into);
      break;
    case 'ferry-enc-up': {
      const record = await encStore.putLayer('bench-enc', layer, env.dir);
      await encStore.writeManifest({ formatVersion: 2, checkpointId: 'bench-enc', complete: true, createdAt: new Date().toISOString(), completedAt: new Date().toISOString(), layers: [record], baseLayers: [] });
      break;
    }
    case 'ferry-enc-down':
      await encStore.pullChain('bench-enc', env.into);
      break;
    case 'ferry-down-ranged':
      await new LayerStore({ client: c, bucket: BUCKET, prefix: env.prefix, rangedDownloads: true, encryptionKey: null }).pullChain('bench', env.into);
      break;
    case 'sdk-up': {
      const size = (await import('node:fs')).statSync(env.file).size;
      await c.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${env.prefix}/plain`, Body: createReadStream(env.file), ContentLength: size }));
      break;
    }
    case 'sdk-down': {
      const out = await c.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${env.prefix}/plain` }));
      mkdirSync(env.into, { recursive: true });
      await pipeline(out.Body as Readable, createWriteStream(path.join(env.into, 'plain')));
      break;
    }
    default:
      throw new Error(`unknown variant ${variant}`);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(`\n${JSON.stringify({ seconds, deltaKiB: vmHwmKiB() - before })}\n`);
}

interface Sample {
  seconds: number;
  peakKiB: number;
  deltaKiB: number | null;
}

/** Runs a command under /usr/bin/time; returns wall seconds (from the worker if it reports) and peak RSS. */
async function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Sample> {
  const timeFile = path.join(os.tmpdir(), `ferry-bench-time-${randomBytes(4).toString('hex')}`);
  const t0 = process.hrtime.bigint();
  const { stdout } = await promisify(execFile)('/usr/bin/time', ['-f', '%M', '-o', timeFile, cmd, ...args], { env, maxBuffer: 16 * MiB });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const peakKiB = Number(readFileSync(timeFile, 'utf8').trim().split('\n').pop());
  rmSync(timeFile, { force: true });
  const last = stdout.trim().split('\n').pop() ?? '';
  if (last.startsWith('{')) {
    const r = JSON.parse(last) as { seconds: number; deltaKiB: number };
    return { seconds: r.seconds, peakKiB, deltaKiB: r.deltaKiB };
  }
  return { seconds: wall, peakKiB, deltaKiB: null };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function emptyBucket(c: S3Client): Promise<void> {
  for (;;) {
    const page = await c.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    const keys = (page.Contents ?? []).map((o) => o.Key!).filter(Boolean);
    if (keys.length === 0) return;
    for (const Key of keys) await c.send(new DeleteObjectCommand({ Bucket: BUCKET, Key }));
  }
}

async function writeRandomFile(file: string, mib: number): Promise<void> {
  const cipher = createCipheriv('aes-256-ctr', randomBytes(32), Buffer.alloc(16));
  const out = createWriteStream(file);
  const zero = Buffer.alloc(MiB);
  for (let i = 0; i < mib; i++) if (!out.write(cipher.update(zero))) await new Promise<void>((r) => out.once('drain', () => r()));
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

async function runBench(sizeMiB: number, rounds: number): Promise<void> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-'));
  const minio = new PrivateMinio();
  try {
    await minio.start();
    await minio.createBucket(BUCKET);
    const dir = path.join(work, 'layer');
    mkdirSync(dir);
    const file = path.join(dir, 'pages-1.img');
    await writeRandomFile(file, sizeMiB);
    const hasAws = spawnSync('aws', ['--version'], { stdio: 'ignore' }).status === 0;
    const variants = [
      'ferry-up',
      'ferry-enc-up',
      'sdk-up',
      ...(hasAws ? ['aws-up'] : []),
      'ferry-down',
      'ferry-enc-down',
      'ferry-down-ranged',
      'sdk-down',
      ...(hasAws ? ['aws-down'] : []),
    ];
    const keyHex = randomBytes(32).toString('hex');
    // Before the first transfer: at the end the bench's own work would be in the figure.
    const loadAtStart = os.loadavg()[0];
    const samples = new Map<string, Sample[]>(variants.map((v) => [v, []]));
    const register = path.join(__dirname, 'storage-ts-register.js');
    const c = minio.client();
    for (let round = 0; round < rounds; round++) {
      await emptyBucket(c);
      const prefix = `r${round}`;
      const into = (v: string): string => path.join(work, `into-${v}-${round}`);
      // Uploads before downloads (they need the objects), each group rotated per round so that no
      // variant always runs first or right after another's writes.
      const ups = variants.filter((v) => v.endsWith('-up'));
      const downs = variants.filter((v) => !v.endsWith('-up'));
      const rotate = (xs: string[]): string[] => xs.map((_, i) => xs[(i + round) % xs.length]);
      for (const v of [...rotate(ups), ...rotate(downs)]) {
        // Flush dirty pages first: a transfer should not pay for the previous one's writeback.
        spawnSync('sync');
        const env: WorkerEnv = { endpoint: minio.endpoint, accessKey: minio.accessKey, secretKey: minio.secretKey, file, dir, into: into(v), prefix, keyHex };
        const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, FERRY_BENCH_ENV: JSON.stringify(env) };
        let s: Sample;
        if (v.startsWith('aws-')) {
          // The AWS CLI reads the same keys from its environment (provider chain), never argv.
          const awsEnv = { ...childEnv, AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey, AWS_DEFAULT_REGION: 'us-east-1' };
          const remote = `s3://${BUCKET}/${prefix}/aws`;
          const args = v === 'aws-up' ? ['s3', 'cp', '--only-show-errors', file, remote] : ['s3', 'cp', '--only-show-errors', remote, path.join(into(v), 'aws')];
          if (v === 'aws-down') mkdirSync(into(v), { recursive: true });
          s = await measure('aws', ['--endpoint-url', minio.endpoint, ...args], awsEnv);
        } else {
          s = await measure(process.execPath, ['-r', register, __filename, '--worker', v], childEnv);
        }
        samples.get(v)!.push(s);
        process.stderr.write(`round ${round + 1}/${rounds} ${v}: ${s.seconds.toFixed(2)} s, peak RSS ${(s.peakKiB / 1024).toFixed(0)} MiB\n`);
        if (v.endsWith('-down')) rmSync(into(v), { recursive: true, force: true });
      }
    }
    const rows = variants.map((v) => {
      const xs = samples.get(v)!;
      const sec = median(xs.map((x) => x.seconds));
      const deltas = xs.map((x) => x.deltaKiB).filter((d): d is number => d !== null);
      return {
        variant: v,
        seconds: sec,
        mibps: sizeMiB / sec,
        peakMiB: median(xs.map((x) => x.peakKiB)) / 1024,
        deltaMiB: deltas.length ? median(deltas) / 1024 : null,
        all: xs.map((x) => x.seconds.toFixed(2)).join(', '),
      };
    });
    const table = [
      `| variant | median s | MiB/s | peak RSS MiB (process) | RSS growth during transfer MiB | runs (s) |`,
      `|---|---:|---:|---:|---:|---|`,
      ...rows.map((r) => `| ${r.variant} | ${r.seconds.toFixed(2)} | ${r.mibps.toFixed(0)} | ${r.peakMiB.toFixed(0)} | ${r.deltaMiB === null ? 'n/a' : r.deltaMiB.toFixed(0)} | ${r.all} |`),
    ].join('\n');
    const doc = [
      '# Layer store throughput (bench/storage-throughput.ts)',
      '',
      `${sizeMiB} MiB layer (one incompressible file), private MinIO on loopback, ${rounds} rounds, medians.`,
      `Machine: ${os.cpus().length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, load average before the first transfer ${loadAtStart.toFixed(1)}, at the end ${os.loadavg()[0].toFixed(1)} (the bench's own); ${new Date().toISOString()}.`,
      'ferry-up: SHA-256 of the file (its content address) plus a CRC32 per part in one read, then 16 MiB parts x 4 in flight,',
      'each part checked by the server against its x-amz-checksum-crc32;',
      'ferry-down: one GET stream per file (the default on a loopback endpoint), hashed on the way, verified before the file is renamed into place;',
      'ferry-enc-up / ferry-enc-down: the same with client-side encryption (AES-256-GCM in 1 MiB segments; the hashing pass also',
      'takes a CRC32 per plaintext segment, each part is sealed and CRC32-ed as it is sent; the download decrypts and authenticates',
      'every segment in the same stream pass, then SHA-256-verifies the plaintext);',
      'ferry-down-ranged: 4 parallel 16 MiB ranged GETs per large file, hashed in order (the default for remote endpoints).',
      'sdk-single: one PutObject with a streamed body / one GetObject piped to a file (no checksums, no verification).',
      'aws-cli: `aws s3 cp` (AWS CLI v1, default 8 MiB parts x 10 threads).',
      'Node variants run under a TypeScript require hook, which adds about 70 MiB to every Node process\'s peak RSS alike;',
      'the "growth" column is the peak RSS during the transfer above the level just before it.',
      '',
      table,
      '',
    ].join('\n');
    mkdirSync(path.join(__dirname, 'results'), { recursive: true });
    writeFileSync(path.join(__dirname, 'results', 'storage.md'), doc);
    process.stdout.write(doc);
  } finally {
    await minio.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

const workerAt = process.argv.indexOf('--worker');
const run = workerAt !== -1 ? runWorker(process.argv[workerAt + 1]) : runBench(arg('--size-mib', 1024), arg('--rounds', 3));
run.catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
