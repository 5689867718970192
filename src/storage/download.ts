/**
 * Downloads one blob into a local file that appears under its real name only after its size and
 * SHA-256 match the manifest: the bytes go to a hidden temporary name in the same directory, are
 * hashed on the way, and are renamed into place once verified (or deleted if not).
 *
 * Small blobs come in one streamed GET. Blobs larger than one part come as parallel ranged GETs
 * into the shared buffer pool: each part is written at its offset as it lands, and hashed in
 * order; a part's buffer returns to the pool only once hashed, so memory stays at
 * (concurrency x partSize) whatever the object size.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ChecksumMismatch, TransferAborted } from '../core';
import { translateS3Error, type S3Context } from './s3-errors';
import type { BandwidthLimit } from './bandwidth';
import type { BufferPool } from './buffer-pool';
import { DecryptStream, type BlobCipher } from './blob-cipher';

export interface DownloadContext {
  client: S3Client;
  bucket: string;
  endpoint: string;
  signal: AbortSignal;
  onBytes: (n: number) => void;
  /** The store's bandwidth cap, waited on as bytes arrive (reading slower slows the sender). */
  limit?: BandwidthLimit;
  /** When set, blobs larger than one buffer are fetched as parallel ranged GETs. */
  pool?: BufferPool;
}

export interface BlobDownload {
  key: string;
  dest: string;
  /** Plaintext size and SHA-256 (what the manifest records). */
  size: number;
  sha256: string;
  /** Set for an encrypted blob: decrypted (and every segment authenticated) on the way in. */
  cipher?: BlobCipher;
}

export async function downloadBlob(ctx: DownloadContext, blob: BlobDownload): Promise<void> {
  const s3: S3Context = { bucket: ctx.bucket, endpoint: ctx.endpoint, operation: `download of ${blob.key}`, key: blob.key };
  const tmp = path.join(path.dirname(blob.dest), `.${path.basename(blob.dest)}.${randomBytes(4).toString('hex')}.partial`);
  const hash = createHash('sha256');
  let received = 0;
  try {
    // Encrypted blobs stream through one decryptor in order; parallel ranges are plaintext-only.
    if (ctx.pool && blob.size > ctx.pool.size && !blob.cipher) {
      received = await rangedInto(ctx, ctx.pool, blob, tmp, hash);
    } else {
      const out = await ctx.client.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: blob.key }), { abortSignal: ctx.signal });
      const body = out.Body as Readable | undefined;
      if (!body) throw new Error(`the store returned no body for ${blob.key}`);
      const meter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          received += chunk.length;
          ctx.onBytes(chunk.length);
          if (!ctx.limit) return done(null, chunk);
          ctx.limit.take(chunk.length, ctx.signal, s3.operation).then(() => done(null, chunk), done);
        },
      });
      const sink = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
      if (blob.cipher) await pipeline(body, new DecryptStream(blob.cipher, blob.sha256, blob.key), meter, sink, { signal: ctx.signal });
      else await pipeline(body, meter, sink, { signal: ctx.signal });
    }
    const actual = hash.digest('hex');
    if (received !== blob.size || actual !== blob.sha256) {
      throw new ChecksumMismatch(
        blob.key,
        `${blob.sha256} (${blob.size} bytes)`,
        `${actual} (${received} bytes)`,
        `the stored object is damaged; nothing from it was written to ${path.dirname(blob.dest)}. Push the checkpoint again from its source`,
      );
    }
    await rename(tmp, blob.dest);
  } catch (err) {
    await rm(tmp, { force: true });
    if (ctx.signal.aborted) throw new TransferAborted(s3.operation, { cause: err });
    throw translateS3Error(err, s3);
  }
}

/** Parallel ranged GETs of one object into `tmp`; returns the bytes received (all hashed, in order). */
async function rangedInto(ctx: DownloadContext, pool: BufferPool, blob: BlobDownload, tmp: string, hash: ReturnType<typeof createHash>): Promise<number> {
  const partSize = pool.size;
  const parts = Math.ceil(blob.size / partSize);
  const fh = await open(tmp, 'wx', 0o600);
  const ready = new Map<number, { buf: Buffer; length: number }>();
  const inFlight = new Set<Promise<void>>();
  let hashed = 0;
  let received = 0;
  let failure: unknown = null;

  const drain = (): void => {
    for (let r = ready.get(hashed); r; r = ready.get(hashed)) {
      hash.update(r.buf.subarray(0, r.length));
      ready.delete(hashed);
      pool.release(r.buf);
      hashed++;
    }
  };

  const fetchPart = async (n: number, buf: Buffer): Promise<void> => {
    const start = n * partSize;
    const length = Math.min(partSize, blob.size - start);
    let filled = 0;
    try {
      const out = await ctx.client.send(
        new GetObjectCommand({ Bucket: ctx.bucket, Key: blob.key, Range: `bytes=${start}-${start + length - 1}` }),
        { abortSignal: ctx.signal },
      );
      const body = out.Body as Readable | undefined;
      if (!body) throw new Error(`the store returned no body for ${blob.key}`);
      for await (const chunk of body as AsyncIterable<Buffer>) {
        // More bytes than asked for means the object is not what the manifest says: stop reading.
        if (filled + chunk.length > length) throw new ChecksumMismatch(blob.key, `${blob.size} bytes`, 'a larger object');
        chunk.copy(buf, filled);
        filled += chunk.length;
        ctx.onBytes(chunk.length);
        await ctx.limit?.take(chunk.length, ctx.signal, `download of ${blob.key}`);
      }
      if (filled !== length) throw new ChecksumMismatch(blob.key, `${blob.size} bytes`, `a shorter object (part ${n + 1} had ${filled} of ${length} bytes)`);
      let written = 0;
      while (written < length) written += (await fh.write(buf, written, length - written, start + written)).bytesWritten;
      received += length;
      ready.set(n, { buf, length });
      drain();
    } catch (err) {
      pool.release(buf);
      if (failure === null) failure = err;
    }
  };

  try {
    for (let n = 0; n < parts && failure === null; n++) {
      const buf = await pool.acquire();
      if (failure !== null || ctx.signal.aborted) {
        pool.release(buf);
        failure ??= new TransferAborted(`download of ${blob.key}`, { cause: ctx.signal.reason });
        break;
      }
      const p = fetchPart(n, buf).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  } finally {
    // Parts that landed after a failure are still held (not hashed): give their buffers back.
    for (const r of ready.values()) pool.release(r.buf);
    ready.clear();
    await fh.close();
  }
  if (failure !== null) throw failure;
  return received;
}
