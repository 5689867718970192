/**
 * What both ways of storing a blob (one PutObject, or a multipart upload) share: the blob and the
 * context they work on, how a request body is read from the local file and signed, and what the
 * server refusing a body for its checksum means.
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { ChecksumMismatch, LocalLayerInvalid } from '../core';
import { readCipherRange, type SealedObject } from './blob-cipher';
import type { BufferPool } from './buffer-pool';
import { readAt } from './file-reads';
import { crc32Base64 } from './upload-hashes';
import { errorCode } from './s3-errors';
import type { BandwidthLimit } from './bandwidth';

/** Server-side encryption asked of the store on every object write (passed through as is). */
export interface ServerSideEncryption {
  mode: 'AES256' | 'aws:kms';
  kmsKeyId?: string;
}

export function sseParams(sse: ServerSideEncryption | undefined): { ServerSideEncryption?: 'AES256' | 'aws:kms'; SSEKMSKeyId?: string } {
  if (!sse) return {};
  return { ServerSideEncryption: sse.mode, ...(sse.kmsKeyId ? { SSEKMSKeyId: sse.kmsKeyId } : {}) };
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
  /** The store's bandwidth cap, waited on before each body is sent. */
  limit?: BandwidthLimit;
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

export interface UploadOutcome {
  partsSent: number;
  partsReused: number;
  bytesSent: number;
  /** The ETag the store gave the object this upload created (after checking every checksum sent). */
  etag?: string;
}

/** Fills buf[0..length) with the stored object's bytes at `offset` (plaintext or sealed). */
export async function fillPart(fh: FileHandle, blob: BlobUpload, buf: Buffer, length: number, offset: number): Promise<void> {
  if (!blob.encrypted) {
    if ((await readAt(fh, buf, length, offset)) < length) throw new Error('short read');
    return;
  }
  const { obj, plainSize, segmentCrc32 } = blob.encrypted;
  return readCipherRange(obj, { fh, path: blob.path, size: plainSize, segmentCrc32 }, offset, length, buf);
}

/**
 * Sets the SigV4 payload hash: the hex SHA-256 we already have (single PutObject), or
 * UNSIGNED-PAYLOAD for parts, so the SDK does not hash bodies again. The bytes stay checked: by
 * the server against x-amz-checksum-*, and by ferry against the whole-file SHA-256 on download.
 */
export function payloadHash<T extends { middlewareStack: { add: (...args: never[]) => unknown } }>(command: T, hex: string): T {
  (command.middlewareStack as unknown as { add: (mw: unknown, opts: unknown) => void }).add(
    (next: (args: unknown) => Promise<unknown>) => async (args: { request?: { headers?: Record<string, string> } }) => {
      if (args.request?.headers) args.request.headers['x-amz-content-sha256'] = hex;
      return next(args);
    },
    { step: 'build', name: 'ferrySignWithDigest' },
  );
  return command;
}

export function isServerChecksumRefusal(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'BadDigest' || code === 'XAmzContentChecksumMismatch' || code === 'InvalidDigest' || code === 'InvalidChecksum';
}

/** Why the server refused bytes for their checksum: the local file changed, or transit damage. */
export function checksumRefusal(blob: BlobUpload, body: Buffer, expected: string, cause: unknown, kind: 'sha256' | 'crc32'): Error {
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
