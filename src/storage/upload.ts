/**
 * Uploads one local file as one content-addressed blob, streaming through a fixed pool of part
 * buffers so that memory stays at (concurrency x partSize) whatever the file size.
 *
 * - The caller hashes the file first (hashForUpload): the whole-file SHA-256 names the blob, and
 *   one CRC32 per part is what each part is sent with. Nothing is hashed again while sending.
 * - Files up to one part go up in a single PutObject carrying x-amz-checksum-sha256 of the whole
 *   file; larger ones as a multipart upload whose parts are sent in parallel, each carrying
 *   x-amz-checksum-crc32 (multipart-upload.ts). The server checks every checksum before storing
 *   (MinIO and S3 refuse a mismatch). The SHA-256 of the whole file is checked again on every
 *   download.
 * - A part refused for its checksum is re-checked locally: if the local bytes changed since the
 *   hashing pass, the push fails as LocalLayerInvalid (do not touch images dirs during a push);
 *   otherwise it was damaged in transit (ChecksumMismatch).
 * - Resumable: an unfinished multipart upload for the same key is found with
 *   ListMultipartUploads, and a stored part is reused when its size and stored checksum equal the
 *   local part's (without even reading it); everything else is sent again.
 * - On failure: stop reading, wait for the parts in flight, then leave the multipart upload in
 *   place on purpose so a retry resumes from the stored parts. Only when the upload is useless
 *   (local file changed, damaged part) is it aborted. `ferry gc` aborts uploads abandoned for
 *   longer than its grace period.
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { LocalLayerInvalid, ServerSideEncryptionRefused, TransferAborted } from '../core';
import { errorCode, httpStatus, translateS3Error, type S3Context } from './s3-errors';
import { MiB } from './upload-hashes';
import { putMultipart } from './multipart-upload';
import { checksumRefusal, fillPart, isServerChecksumRefusal, payloadHash, sseParams } from './upload-request';
import type { BlobUpload, UploadContext, UploadOutcome } from './upload-request';

export const DEFAULT_PART_SIZE = 16 * MiB;
export const DEFAULT_CONCURRENCY = 4;

/** Object metadata key holding the blob's hex SHA-256 (x-amz-meta-ferry-sha256); plaintext blobs only. */
export const SHA256_METADATA = 'ferry-sha256';
/** Object metadata key holding the encryption key id of an encrypted blob (never its plaintext hash). */
export const KEY_ID_METADATA = 'ferry-key-id';

function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

function checkAborted(signal: AbortSignal, what: string): void {
  if (signal.aborted) throw new TransferAborted(what, { cause: signal.reason });
}

/**
 * A write refused because of the server-side encryption asked for. Stores without a KMS answer
 * 501 NotImplemented (MinIO), which would otherwise look like a transient server error and be
 * retried forever; AWS answers KMS.* codes for a bad key.
 */
function sseRefusal(ctx: UploadContext, err: unknown): ServerSideEncryptionRefused | null {
  if (!ctx.sse) return null;
  const code = errorCode(err) ?? '';
  if (code === 'NotImplemented' || httpStatus(err) === 501 || code.startsWith('KMS.') || /^(KMS|InvalidEncryption)/i.test(code)) {
    return new ServerSideEncryptionRefused(ctx.bucket, ctx.endpoint, ctx.sse.mode, code || String(httpStatus(err)), { cause: err });
  }
  return null;
}

/** Uploads `blob` unless told it is already stored; returns what was actually sent. */
export async function uploadBlob(ctx: UploadContext, blob: BlobUpload): Promise<UploadOutcome> {
  const s3: S3Context = { bucket: ctx.bucket, endpoint: ctx.endpoint, operation: `upload of ${blob.path}`, key: blob.key };
  const fh = await open(blob.path, 'r').catch((err: unknown) => {
    throw new LocalLayerInvalid(blob.path, `cannot be read (${(err as Error).message})`, { cause: err });
  });
  try {
    if (blob.partSize === 0) return await putSingle(ctx, s3, fh, blob);
    return await putMultipart(ctx, s3, fh, blob);
  } catch (err) {
    throw sseRefusal(ctx, err) ?? translateS3Error(err, s3);
  } finally {
    await fh.close();
  }
}

async function putSingle(ctx: UploadContext, s3: S3Context, fh: FileHandle, blob: BlobUpload): Promise<UploadOutcome> {
  const buf = await ctx.pool.acquire();
  try {
    checkAborted(ctx.signal, s3.operation);
    await fillPart(fh, blob, buf, blob.size, 0);
    const body = buf.subarray(0, blob.size);
    const bodySha = blob.encrypted ? createHash('sha256').update(body).digest('hex') : blob.sha256;
    const digest = hexToBase64(bodySha);
    let etag: string | undefined;
    await ctx.limit?.take(blob.size, ctx.signal, s3.operation);
    try {
      const out = await ctx.client.send(
        payloadHash(
          new PutObjectCommand({
            Bucket: ctx.bucket,
            Key: blob.key,
            Body: body,
            ContentLength: blob.size,
            ChecksumSHA256: digest,
            Metadata: blob.metadata,
            ...sseParams(ctx.sse),
          }),
          bodySha,
        ),
        { abortSignal: ctx.signal },
      );
      etag = out.ETag;
    } catch (err) {
      if (isServerChecksumRefusal(err)) throw checksumRefusal(blob, body, digest, err, 'sha256');
      throw err;
    }
    ctx.onBytes(blob.size);
    return { partsSent: 1, partsReused: 0, bytesSent: blob.size, ...(etag ? { etag } : {}) };
  } finally {
    ctx.pool.release(buf);
  }
}
