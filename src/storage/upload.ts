/**
 * Uploads one local file as one content-addressed blob, streaming through a fixed pool of part
 * buffers so that memory stays at (concurrency x partSize) whatever the file size.
 *
 * - The caller hashes the file first (hashForUpload): the whole-file SHA-256 names the blob, and
 *   one CRC32 per part is what each part is sent with. Nothing is hashed again while sending.
 * - Files up to one part go up in a single PutObject carrying x-amz-checksum-sha256 of the whole
 *   file; larger ones as a multipart upload whose parts are sent in parallel, each carrying
 *   x-amz-checksum-crc32. The server checks every checksum before storing (MinIO and S3 refuse a
 *   mismatch). The SHA-256 of the whole file is checked again on every download.
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
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ChecksumMismatch, LocalLayerInvalid, ServerSideEncryptionRefused, TransferAborted } from './errors';
import { readCipherRange, type SealedObject } from './blob-cipher';
import { errorCode, httpStatus, translateS3Error, type S3Context } from './s3-errors';

export const MiB = 1024 * 1024;
export const DEFAULT_PART_SIZE = 16 * MiB;
export const DEFAULT_CONCURRENCY = 4;
const MAX_PARTS = 10000;
/** S3's smallest allowed part (except the last). */
const MIN_PART_SIZE = 5 * MiB;

/** Object metadata key holding the blob's hex SHA-256 (x-amz-meta-ferry-sha256); plaintext blobs only. */
export const SHA256_METADATA = 'ferry-sha256';
/** Object metadata key holding the encryption key id of an encrypted blob (never its plaintext hash). */
export const KEY_ID_METADATA = 'ferry-key-id';

/** Server-side encryption asked of the store on every object write (passed through as is). */
export interface ServerSideEncryption {
  mode: 'AES256' | 'aws:kms';
  kmsKeyId?: string;
}

export function sseParams(sse: ServerSideEncryption | undefined): { ServerSideEncryption?: 'AES256' | 'aws:kms'; SSEKMSKeyId?: string } {
  if (!sse) return {};
  return { ServerSideEncryption: sse.mode, ...(sse.kmsKeyId ? { SSEKMSKeyId: sse.kmsKeyId } : {}) };
}

/** A fixed set of reusable buffers; acquiring waits while all are in use. This is the memory bound. */
export class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiters: Array<(b: Buffer) => void> = [];
  private allocated = 0;
  constructor(
    readonly count: number,
    readonly size: number,
  ) {}

  acquire(): Promise<Buffer> {
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    // Allocated on first need, so a layer of small files never costs count x size.
    if (this.allocated < this.count) {
      this.allocated++;
      return Promise.resolve(Buffer.allocUnsafeSlow(this.size));
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(b: Buffer): void {
    const next = this.waiters.shift();
    if (next) next(b);
    else this.free.push(b);
  }
}

export interface UploadContext {
  client: S3Client;
  bucket: string;
  endpoint: string;
  pool: BufferPool;
  signal: AbortSignal;
  /** Called with each chunk of bytes that is now stored (sent or found already stored). */
  onBytes: (n: number) => void;
  sse?: ServerSideEncryption;
}

export interface BlobUpload {
  key: string;
  path: string;
  /** Bytes of the stored object (the ciphertext size for an encrypted blob). */
  size: number;
  /** Hex SHA-256 of the plaintext file. */
  sha256: string;
  /** Part size of the stored object; 0 for an object sent in one PutObject. */
  partSize: number;
  /** Base64 CRC32 (big-endian, as S3 writes it) of each part; empty for one-part or encrypted objects. */
  partCrc32: string[];
  /** Object metadata to store. */
  metadata: Record<string, string>;
  /** Set for an encrypted blob: parts are produced by sealing the file's segments. */
  encrypted?: { obj: SealedObject; plainSize: number; segmentCrc32: number[] };
}

/** Fills buf[0..length) with the stored object's bytes at `offset` (plaintext or sealed). */
async function fillPart(fh: FileHandle, blob: BlobUpload, buf: Buffer, length: number, offset: number): Promise<void> {
  if (!blob.encrypted) return readFully(fh, buf, length, offset);
  const { obj, plainSize, segmentCrc32 } = blob.encrypted;
  return readCipherRange(obj, { fh, path: blob.path, size: plainSize, segmentCrc32 }, offset, length, buf);
}

export interface UploadHashes {
  size: number;
  /** Hex SHA-256 of the whole file. */
  sha256: string;
  /** Part size the part checksums were cut at; 0 when the file fits in one part. */
  partSize: number;
  partCrc32: string[];
  /** CRC32 of each plaintext segment, when asked for (encrypted uploads re-check them while sealing). */
  segmentCrc32: number[];
}

/**
 * One read of the file giving the whole-file SHA-256 (the blob's name, verified on every
 * download) and one CRC32 per multipart part (sent with the part, checked by the server), so the
 * upload itself never hashes. Parts use CRC32 rather than SHA-256 because, measured here, SHA-256
 * per part cost ~1 s per GiB on the client and as much again on the server, which made uploads
 * markedly slower than a plain PutObject; the SHA-256 of the whole file still guards the data
 * end to end.
 */
export function crc32Base64(value: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b.toString('base64');
}

export async function hashForUpload(
  file: string,
  expectedSize: number,
  bufferSize: number,
  signal?: AbortSignal,
  segmentSize = 0,
): Promise<UploadHashes> {
  // Encrypted objects are cut into parts after sealing, so plaintext part CRCs would be useless.
  const partSize = segmentSize === 0 && expectedSize > bufferSize ? partSizeFor(expectedSize, bufferSize) : 0;
  const segments: number[] = [];
  let seg = 0;
  let inSeg = 0;
  const whole = createHash('sha256');
  const parts: string[] = [];
  let part = 0;
  let inPart = 0;
  let size = 0;
  await pipeline(
    createReadStream(file, { highWaterMark: 1024 * 1024 }),
    async function (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        whole.update(chunk);
        size += chunk.length;
        if (segmentSize !== 0) {
          let o = 0;
          while (o < chunk.length) {
            const take = Math.min(chunk.length - o, segmentSize - inSeg);
            seg = crc32(chunk.subarray(o, o + take), seg);
            inSeg += take;
            o += take;
            if (inSeg === segmentSize) {
              segments.push(seg);
              seg = 0;
              inSeg = 0;
            }
          }
        }
        if (partSize === 0) continue;
        let off = 0;
        while (off < chunk.length) {
          const take = Math.min(chunk.length - off, partSize - inPart);
          part = crc32(off === 0 && take === chunk.length ? chunk : chunk.subarray(off, off + take), part);
          inPart += take;
          off += take;
          if (inPart === partSize) {
            parts.push(crc32Base64(part));
            part = 0;
            inPart = 0;
          }
        }
      }
    },
    signal ? { signal } : {},
  );
  if (partSize !== 0 && inPart > 0) parts.push(crc32Base64(part));
  // An empty file is one empty segment (its CRC32 is 0).
  if (segmentSize !== 0 && (inSeg > 0 || segments.length === 0)) segments.push(seg);
  return { size, sha256: whole.digest('hex'), partSize, partCrc32: parts, segmentCrc32: segments };
}

/**
 * Sets the SigV4 payload hash: the hex SHA-256 we already have (single PutObject), or
 * UNSIGNED-PAYLOAD for parts, so the SDK does not hash bodies again. The bytes stay checked: by
 * the server against x-amz-checksum-*, and by ferry against the whole-file SHA-256 on download.
 */
function payloadHash<T extends { middlewareStack: { add: (...args: never[]) => unknown } }>(command: T, hex: string): T {
  (command.middlewareStack as unknown as { add: (mw: unknown, opts: unknown) => void }).add(
    (next: (args: unknown) => Promise<unknown>) => async (args: { request?: { headers?: Record<string, string> } }) => {
      if (args.request?.headers) args.request.headers['x-amz-content-sha256'] = hex;
      return next(args);
    },
    { step: 'build', name: 'ferrySignWithDigest' },
  );
  return command;
}

export interface UploadOutcome {
  partsSent: number;
  partsReused: number;
  bytesSent: number;
}

function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

export function partSizeFor(size: number, preferred: number): number {
  const needed = Math.ceil(size / MAX_PARTS);
  return Math.max(preferred, MIN_PART_SIZE, Math.ceil(needed / MiB) * MiB);
}

async function readFully(fh: FileHandle, buf: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new Error('short read');
    done += bytesRead;
  }
}

function checkAborted(signal: AbortSignal, what: string): void {
  if (signal.aborted) throw new TransferAborted(what, { cause: signal.reason });
}

function isServerChecksumRefusal(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'BadDigest' || code === 'XAmzContentChecksumMismatch' || code === 'InvalidDigest' || code === 'InvalidChecksum';
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
    try {
      await ctx.client.send(
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
    } catch (err) {
      if (isServerChecksumRefusal(err)) throw refusal(blob, body, digest, err, 'sha256');
      throw err;
    }
    ctx.onBytes(blob.size);
    return { partsSent: 1, partsReused: 0, bytesSent: blob.size };
  } finally {
    ctx.pool.release(buf);
  }
}

/** Why the server refused bytes for their checksum: the local file changed, or transit damage. */
function refusal(blob: BlobUpload, body: Buffer, expected: string, cause: unknown, kind: 'sha256' | 'crc32'): Error {
  const actual = kind === 'sha256' ? createHash('sha256').update(body).digest('base64') : crc32Base64(crc32(body));
  if (actual !== expected) {
    return new LocalLayerInvalid(
      blob.path,
      'its content changed while it was being uploaded (a part no longer matches the checksum taken before sending); do not modify images dirs until the push finishes',
      { cause },
    );
  }
  return new ChecksumMismatch(blob.key, blob.sha256, 'a different digest at the server', 'the bytes were damaged in transit and the server refused them; retry the push', { cause });
}

interface StoredPart {
  size: number;
  etag: string;
  checksumCrc32?: string;
}

async function findResumableUpload(ctx: UploadContext, key: string): Promise<{ uploadId: string; parts: Map<number, StoredPart> } | null> {
  let best: { id: string; initiated: number } | null = null;
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const out = await ctx.client.send(
      new ListMultipartUploadsCommand({ Bucket: ctx.bucket, Prefix: key, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
      { abortSignal: ctx.signal },
    );
    for (const u of out.Uploads ?? []) {
      if (u.Key !== key || !u.UploadId) continue;
      const initiated = u.Initiated ? u.Initiated.getTime() : 0;
      if (!best || initiated > best.initiated) best = { id: u.UploadId, initiated };
    }
    if (!out.IsTruncated) break;
    keyMarker = out.NextKeyMarker;
    uploadIdMarker = out.NextUploadIdMarker;
  }
  if (!best) return null;
  const parts = new Map<number, StoredPart>();
  let marker: string | undefined;
  for (;;) {
    const out = await ctx.client.send(
      new ListPartsCommand({ Bucket: ctx.bucket, Key: key, UploadId: best.id, PartNumberMarker: marker }),
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
  return { uploadId: best.id, parts };
}

/** Without a stored checksum, a stored part stands in for ours if its ETag is our part's MD5. */
function sameBytes(stored: StoredPart, body: Buffer): boolean {
  if (stored.size !== body.length) return false;
  const etag = stored.etag.replace(/"/g, '');
  return /^[0-9a-f]{32}$/.test(etag) && etag === createHash('md5').update(body).digest('hex');
}

async function putMultipart(ctx: UploadContext, s3: S3Context, fh: FileHandle, blob: BlobUpload): Promise<UploadOutcome> {
  const partSize = blob.partSize;
  if (partSize > ctx.pool.size) throw new Error(`internal: part size ${partSize} exceeds the buffer size ${ctx.pool.size}`);
  const partCount = Math.ceil(blob.size / partSize);
  const resumable = await findResumableUpload(ctx, blob.key);
  let uploadId: string;
  let stored = new Map<number, StoredPart>();
  if (resumable) {
    uploadId = resumable.uploadId;
    stored = resumable.parts;
  } else {
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
    uploadId = created.UploadId;
  }

  if (!blob.encrypted && blob.partCrc32.length !== partCount) {
    throw new Error(`internal: ${blob.path} was hashed in ${blob.partCrc32.length} parts, uploads in ${partCount}`);
  }
  const completed: CompletedPart[] = new Array(partCount);
  const outcome: UploadOutcome = { partsSent: 0, partsReused: 0, bytesSent: 0 };
  const inFlight = new Set<Promise<void>>();
  let failure: unknown = null;

  const sendPart = async (partNumber: number, buf: Buffer, length: number, digest: string): Promise<void> => {
    const body = buf.subarray(0, length);
    try {
      const out = await ctx.client.send(
        payloadHash(
          new UploadPartCommand({
            Bucket: ctx.bucket,
            Key: blob.key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: body,
            ContentLength: length,
            ChecksumCRC32: digest,
          }),
          'UNSIGNED-PAYLOAD',
        ),
        { abortSignal: ctx.signal },
      );
      completed[partNumber - 1] = { PartNumber: partNumber, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32 ?? digest };
      outcome.partsSent++;
      outcome.bytesSent += length;
      ctx.onBytes(length);
    } catch (err) {
      if (failure === null) failure = isServerChecksumRefusal(err) ? refusal(blob, body, digest, err, 'crc32') : err;
    } finally {
      ctx.pool.release(buf);
    }
  };

  for (let n = 1; n <= partCount && failure === null; n++) {
    if (ctx.signal.aborted) {
      failure = new TransferAborted(s3.operation, { cause: ctx.signal.reason });
      break;
    }
    const offset = (n - 1) * partSize;
    const length = Math.min(partSize, blob.size - offset);
    const prior = stored.get(n);
    const known = blob.encrypted ? undefined : blob.partCrc32[n - 1];
    if (known !== undefined && prior?.checksumCrc32 && prior.size === length && prior.checksumCrc32 === known) {
      // Stored by an earlier attempt with the same size and checksum: nothing to read or send.
      completed[n - 1] = { PartNumber: n, ETag: prior.etag, ChecksumCRC32: prior.checksumCrc32 };
      outcome.partsReused++;
      ctx.onBytes(length);
      continue;
    }
    const buf = await ctx.pool.acquire();
    if (failure !== null) {
      ctx.pool.release(buf);
      break;
    }
    try {
      await fillPart(fh, blob, buf, length, offset);
    } catch (err) {
      ctx.pool.release(buf);
      failure =
        err instanceof LocalLayerInvalid
          ? err
          : new LocalLayerInvalid(blob.path, `could not be read at offset ${offset} (${(err as Error).message})`, { cause: err });
      break;
    }
    // An encrypted part's checksum is known only once sealed (sealing is deterministic, so a resumed
    // upload produces the same bytes and can compare with what is stored).
    const digest = known ?? crc32Base64(crc32(buf.subarray(0, length)));
    if (known === undefined && prior?.checksumCrc32 && prior.size === length && prior.checksumCrc32 === digest) {
      completed[n - 1] = { PartNumber: n, ETag: prior.etag, ChecksumCRC32: digest };
      outcome.partsReused++;
      ctx.onBytes(length);
      ctx.pool.release(buf);
      continue;
    }
    if (prior && !prior.checksumCrc32 && sameBytes(prior, buf.subarray(0, length))) {
      completed[n - 1] = { PartNumber: n, ETag: prior.etag, ChecksumCRC32: digest };
      outcome.partsReused++;
      ctx.onBytes(length);
      ctx.pool.release(buf);
      continue;
    }
    const p = sendPart(n, buf, length, digest).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  // Never leave parts in flight behind us: a part landing after an abort would resurrect the upload.
  await Promise.all(inFlight);

  if (failure !== null) {
    if (failure instanceof LocalLayerInvalid || (failure as Error).name === 'ChecksumMismatch') {
      await ctx.client
        .send(new AbortMultipartUploadCommand({ Bucket: ctx.bucket, Key: blob.key, UploadId: uploadId }))
        .catch(() => undefined);
    }
    throw failure;
  }

  try {
    await ctx.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: ctx.bucket,
        Key: blob.key,
        UploadId: uploadId,
        MultipartUpload: { Parts: completed },
      }),
      { abortSignal: ctx.signal },
    );
  } catch (err) {
    if (errorCode(err) === 'NoSuchUpload') {
      // Someone (gc, another push of the same bytes) finished or aborted it; the caller re-checks the blob.
      throw new TransferAborted(`${s3.operation} (the multipart upload vanished; retry)`, { cause: err });
    }
    throw err;
  }
  return outcome;
}
