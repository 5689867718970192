/**
 * A blob larger than one part, sent as a multipart upload: resumed from an unfinished upload of
 * the same key when there is one, parts read into pool buffers and sent in parallel, and on
 * failure never given up on before the parts in flight have settled.
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  UploadPartCommand,
  type CompletedPart,
  type MultipartUpload,
  type S3Client,
} from '@aws-sdk/client-s3';
import { LocalLayerInvalid, TransferAborted } from '../core';
import { errorCode, type S3Context } from './s3-errors';
import { crc32Base64 } from './upload-hashes';
import { checksumRefusal, fillPart, isServerChecksumRefusal, payloadHash, sseParams } from './upload-request';
import type { BlobUpload, UploadContext, UploadOutcome } from './upload-request';

interface StoredPart {
  size: number;
  etag: string;
  checksumCrc32?: string;
}

/** A multipart upload under way: where each part is, what was sent, and the first failure. */
interface PartsRun {
  uploadId: string;
  completed: CompletedPart[];
  outcome: UploadOutcome;
  /** null while nothing failed. */
  failure: unknown;
}

/** Every unfinished multipart upload under `prefix`, all pages of the listing followed. */
export async function listMultipartUploads(client: S3Client, bucket: string, prefix: string, signal?: AbortSignal): Promise<MultipartUpload[]> {
  const uploads: MultipartUpload[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const out = await client.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
      { abortSignal: signal },
    );
    uploads.push(...(out.Uploads ?? []));
    if (!out.IsTruncated) break;
    keyMarker = out.NextKeyMarker;
    uploadIdMarker = out.NextUploadIdMarker;
  }
  return uploads;
}

async function listStoredParts(ctx: UploadContext, key: string, uploadId: string): Promise<Map<number, StoredPart>> {
  const parts = new Map<number, StoredPart>();
  let marker: string | undefined;
  for (;;) {
    const out = await ctx.client.send(
      new ListPartsCommand({ Bucket: ctx.bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker }),
      { abortSignal: ctx.signal },
    );
    for (const p of out.Parts ?? []) {
      if (p.PartNumber && p.ETag && p.Size !== undefined) {
        parts.set(p.PartNumber, { size: p.Size, etag: p.ETag, checksumCrc32: p.ChecksumCRC32 });
      }
    }
    if (!out.IsTruncated) break;
    marker = out.NextPartNumberMarker;
  }
  return parts;
}

/** The newest unfinished upload of `key` and its stored parts, or a new upload when there is none. */
async function resumeOrCreateUpload(ctx: UploadContext, blob: BlobUpload): Promise<{ uploadId: string; stored: Map<number, StoredPart> }> {
  let best: { id: string; initiated: number } | null = null;
  for (const u of await listMultipartUploads(ctx.client, ctx.bucket, blob.key, ctx.signal)) {
    if (u.Key !== blob.key || !u.UploadId) continue;
    const initiated = u.Initiated ? u.Initiated.getTime() : 0;
    if (!best || initiated > best.initiated) best = { id: u.UploadId, initiated };
  }
  if (best) return { uploadId: best.id, stored: await listStoredParts(ctx, blob.key, best.id) };
  const created = await ctx.client.send(
    new CreateMultipartUploadCommand({
      Bucket: ctx.bucket,
      Key: blob.key,
      ChecksumAlgorithm: 'CRC32',
      Metadata: blob.metadata,
      ...sseParams(ctx.sse),
    }),
    { abortSignal: ctx.signal },
  );
  if (!created.UploadId) throw new Error(`the store returned no upload id for ${blob.key}`);
  return { uploadId: created.UploadId, stored: new Map() };
}

/**
 * A part stored by an earlier attempt stands in for ours when its size and stored checksum are
 * ours; without a stored checksum, when its ETag is our part's MD5.
 */
function sameAsStored(stored: StoredPart | undefined, body: Buffer, digest: string): stored is StoredPart {
  if (!stored || stored.size !== body.length) return false;
  if (stored.checksumCrc32) return stored.checksumCrc32 === digest;
  const etag = stored.etag.replace(/"/g, '');
  return /^[0-9a-f]{32}$/.test(etag) && etag === createHash('md5').update(body).digest('hex');
}

function reusePart(ctx: UploadContext, run: PartsRun, partNumber: number, stored: StoredPart, digest: string, length: number): void {
  run.completed[partNumber - 1] = { PartNumber: partNumber, ETag: stored.etag, ChecksumCRC32: digest };
  run.outcome.partsReused++;
  ctx.onBytes(length);
}

/** Sends one part and returns its buffer to the pool; a failure is recorded in `run`, never thrown. */
async function sendPart(ctx: UploadContext, blob: BlobUpload, run: PartsRun, partNumber: number, buf: Buffer, length: number, digest: string): Promise<void> {
  const body = buf.subarray(0, length);
  try {
    await ctx.limit?.take(length, ctx.signal, `upload of ${blob.key}`);
    const out = await ctx.client.send(
      payloadHash(
        new UploadPartCommand({
          Bucket: ctx.bucket,
          Key: blob.key,
          UploadId: run.uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: length,
          ChecksumCRC32: digest,
        }),
        'UNSIGNED-PAYLOAD',
      ),
      { abortSignal: ctx.signal },
    );
    run.completed[partNumber - 1] = { PartNumber: partNumber, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32 ?? digest };
    run.outcome.partsSent++;
    run.outcome.bytesSent += length;
    ctx.onBytes(length);
  } catch (err) {
    if (run.failure === null) run.failure = isServerChecksumRefusal(err) ? checksumRefusal(blob, body, digest, err, 'crc32') : err;
  } finally {
    ctx.pool.release(buf);
  }
}

/**
 * Goes through the parts in order: reuses what an earlier attempt stored, reads the rest into pool
 * buffers (the pool bounds how many are in flight) and sends them. Stops starting parts at the
 * first failure or abort, and returns only once no part is in flight.
 */
async function sendParts(ctx: UploadContext, s3: S3Context, fh: FileHandle, blob: BlobUpload, run: PartsRun, stored: Map<number, StoredPart>): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  for (let n = 1; n <= run.completed.length && run.failure === null; n++) {
    if (ctx.signal.aborted) {
      run.failure = new TransferAborted(s3.operation, { cause: ctx.signal.reason });
      break;
    }
    const offset = (n - 1) * blob.partSize;
    const length = Math.min(blob.partSize, blob.size - offset);
    const prior = stored.get(n);
    const known = blob.encrypted ? undefined : blob.partCrc32[n - 1];
    if (known !== undefined && prior?.checksumCrc32 && prior.size === length && prior.checksumCrc32 === known) {
      // Stored by an earlier attempt with the same size and checksum: nothing to read or send.
      reusePart(ctx, run, n, prior, known, length);
      continue;
    }
    const buf = await ctx.pool.acquire();
    if (run.failure !== null) {
      ctx.pool.release(buf);
      break;
    }
    try {
      await fillPart(fh, blob, buf, length, offset);
    } catch (err) {
      ctx.pool.release(buf);
      run.failure =
        err instanceof LocalLayerInvalid
          ? err
          : new LocalLayerInvalid(blob.path, `could not be read at offset ${offset} (${(err as Error).message})`, { cause: err });
      break;
    }
    // An encrypted part's checksum is known only once sealed (sealing is deterministic, so a resumed
    // upload produces the same bytes and can compare with what is stored).
    const digest = known ?? crc32Base64(crc32(buf.subarray(0, length)));
    if (sameAsStored(prior, buf.subarray(0, length), digest)) {
      reusePart(ctx, run, n, prior, digest, length);
      ctx.pool.release(buf);
      continue;
    }
    const p = sendPart(ctx, blob, run, n, buf, length, digest).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  // Never leave parts in flight behind us: a part landing after an abort would resurrect the upload.
  await Promise.all(inFlight);
}

/**
 * After a failure the upload stays for a retry to resume, unless its stored parts can never be
 * reused: the local file changed, or a part was damaged.
 */
async function abortIfUseless(ctx: UploadContext, blob: BlobUpload, uploadId: string, failure: unknown): Promise<void> {
  if (failure instanceof LocalLayerInvalid || (failure as Error).name === 'ChecksumMismatch') {
    await ctx.client.send(new AbortMultipartUploadCommand({ Bucket: ctx.bucket, Key: blob.key, UploadId: uploadId })).catch(() => undefined);
  }
}

async function completeUpload(ctx: UploadContext, s3: S3Context, blob: BlobUpload, run: PartsRun): Promise<string | undefined> {
  try {
    const out = await ctx.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: ctx.bucket,
        Key: blob.key,
        UploadId: run.uploadId,
        MultipartUpload: { Parts: run.completed },
      }),
      { abortSignal: ctx.signal },
    );
    return out.ETag;
  } catch (err) {
    if (errorCode(err) === 'NoSuchUpload') {
      // Someone (gc, another push of the same bytes) finished or aborted it; the caller re-checks the blob.
      throw new TransferAborted(`${s3.operation} (the multipart upload vanished; retry)`, { cause: err });
    }
    throw err;
  }
}

export async function putMultipart(ctx: UploadContext, s3: S3Context, fh: FileHandle, blob: BlobUpload): Promise<UploadOutcome> {
  if (blob.partSize > ctx.pool.size) throw new Error(`internal: part size ${blob.partSize} exceeds the buffer size ${ctx.pool.size}`);
  const partCount = Math.ceil(blob.size / blob.partSize);
  const { uploadId, stored } = await resumeOrCreateUpload(ctx, blob);
  if (!blob.encrypted && blob.partCrc32.length !== partCount) {
    throw new Error(`internal: ${blob.path} was hashed in ${blob.partCrc32.length} parts, uploads in ${partCount}`);
  }
  const run: PartsRun = { uploadId, completed: new Array(partCount), outcome: { partsSent: 0, partsReused: 0, bytesSent: 0 }, failure: null };
  await sendParts(ctx, s3, fh, blob, run, stored);
  if (run.failure !== null) {
    await abortIfUseless(ctx, blob, run.uploadId, run.failure);
    throw run.failure;
  }
  const etag = await completeUpload(ctx, s3, blob, run);
  return { ...run.outcome, ...(etag ? { etag } : {}) };
}
