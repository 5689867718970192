/**
 * Child process of storage-memory.test.ts (and of the benchmark): pushes one big file as a layer,
 * pulls it back, and reports its own peak RSS (VmHWM) for each phase, so the parent can assert
 * memory is bounded whatever the file size. Run: node -r ./bench/storage-ts-register.js <this>
 * Input via env: MINIO_ENDPOINT, MINIO_ACCESS_KEY, MINIO_SECRET_KEY, BUCKET, FILE_DIR, INTO_DIR, and
 * ENCRYPTION_KEY_HEX (optional: encrypt the layer with this key).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { S3Client, ListBucketsCommand } from '@aws-sdk/client-s3';
import { LayerStore } from '../../src/storage';
import { EncryptionKey } from '../../src/config/encryption-key';

function vmHwmKiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : -1;
}

function resetPeak(): void {
  // Writing 5 to clear_refs resets this process's peak RSS (VmHWM) to its current RSS.
  writeFileSync('/proc/self/clear_refs', '5');
}

async function main(): Promise<void> {
  const env = process.env;
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: env.MINIO_ENDPOINT,
    forcePathStyle: true,
    credentials: { accessKeyId: env.MINIO_ACCESS_KEY!, secretAccessKey: env.MINIO_SECRET_KEY! },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  await client.send(new ListBucketsCommand({}));
  const store = new LayerStore({ client, bucket: env.BUCKET!, prefix: 'mem', partSize: 16 * 1024 * 1024,
    concurrency: 4,
    encryptionKey: env.ENCRYPTION_KEY_HEX ? new EncryptionKey(Buffer.from(env.ENCRYPTION_KEY_HEX, 'hex')) : null,
  });
  const parts: number[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if ((context as { commandName?: string }).commandName === 'UploadPartCommand') parts.push(1);
      return next(args);
    },
    { step: 'initialize', name: 'countParts' },
  );
  global.gc?.();
  resetPeak();
  const baselineKiB = vmHwmKiB();
  const layer = {
    index: 0,
    kind: 'dump' as const,
    parentIndex: null,
    criuVersion: 'test',
    kernel: 'test',
    host: 'test',
    process: { pid: 1, startTime: 0, bootId: '', comm: '' },
    stats: { frozenTimeUs: 0, memdumpTimeUs: 0, pagesScanned: 0, pagesWritten: 0, pagesSkippedParent: 0 },
  };
  let t = Date.now();
  const record = await store.putLayer('mem-1', layer, env.FILE_DIR!);
  const uploadMs = Date.now() - t;
  const uploadPeakKiB = vmHwmKiB();
  await store.writeManifest({ formatVersion: record.encryption ? 2 : 1, checkpointId: 'mem-1', complete: true, createdAt: new Date().toISOString(), completedAt: new Date().toISOString(), layers: [record], baseLayers: [] });
  global.gc?.();
  resetPeak();
  const baseline2KiB = vmHwmKiB();
  t = Date.now();
  await store.pullChain('mem-1', env.INTO_DIR!);
  const downloadMs = Date.now() - t;
  const downloadPeakKiB = vmHwmKiB();
  process.stdout.write(
    JSON.stringify({ bytes: record.bytes, encrypted: record.encryption !== undefined, parts: parts.length, baselineKiB, uploadPeakKiB, uploadMs, baseline2KiB, downloadPeakKiB, downloadMs }) + '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).name}: ${(err as Error).message}\n`);
  process.exit(1);
});
