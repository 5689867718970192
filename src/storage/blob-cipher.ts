/**
 * Client-side encryption of blobs: AES-256-GCM over fixed-size segments, so any object size is
 * encrypted and decrypted with bounded memory, and any byte range of the ciphertext can be
 * produced on its own (parallel multipart parts, resumed uploads).
 *
 * Object format ("aes-256-gcm-seg1"):
 *
 *   header (32 bytes) = "FERRYGC1" | u32be segmentSize | keyId (8 bytes) | noncePrefix (8 bytes) | 4 zero bytes
 *   then segment 0 .. n-1, each = AES-256-GCM(plaintext[i*S, (i+1)*S)) | 16-byte tag
 *   n = max(1, ceil(plainSize / S)); an empty file is one empty final segment.
 *
 *   nonce(i) = noncePrefix | u32be i
 *   AAD(i)   = header | u32be i | u8 final   (final = 1 only for the last segment)
 *
 * The header is authenticated by every segment; the index and the final flag in the AAD make a
 * reordered, dropped, duplicated or truncated segment fail its tag, even when the cut falls on a
 * segment boundary.
 *
 * Keys and nonces are derived from the master key K and the plaintext's SHA-256 h (labels keep
 * the derivations independent):
 *
 *   objectKey   = HMAC-SHA256(K, "ferry-object-key-v1\0" | h)      AES key of this object
 *   noncePrefix = HMAC-SHA256(K, "ferry-nonce-v1\0" | h)[0..8]
 *   blobName    = hex HMAC-SHA256(K, "ferry-blob-name-v1\0" | h)   the object's name in the bucket
 *
 * Why deterministic: a resumed multipart upload must produce byte-identical parts (their CRC32s
 * are compared with the stored ones), and content addressing must still deduplicate. Nonce reuse
 * is impossible: a (key, nonce) pair is only ever used for (objectKey(h), i), and objectKey(h)
 * differs for different h unless HMAC-SHA256 collides; the same h means the same plaintext, so
 * segment i is the same bytes and encrypting it again yields the same ciphertext, which reveals
 * nothing new. The price is that equal plaintexts give equal objects (under one key), which the
 * content addressing reveals anyway; across keys nothing is shared.
 *
 * Names: blob names are keyed, so the bucket does not show plaintext hashes (no one can test
 * "is this known file stored here?" without the key), and equal files under different keys do
 * not collide.
 */
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';
import type { EncryptionKey } from '../config/encryption-key';
import { DecryptionFailed, LocalLayerInvalid } from '../core';
import { readAt } from './file-reads';

export const ENCRYPTION_SCHEME = 'aes-256-gcm-seg1';
export const DEFAULT_SEGMENT_SIZE = 1024 * 1024;
export const MIN_SEGMENT_SIZE = 4096;
export const MAX_SEGMENT_SIZE = 64 * 1024 * 1024;
export const HEADER_BYTES = 32;
export const TAG_BYTES = 16;
const MAGIC = Buffer.from('FERRYGC1', 'ascii');

export function segmentCount(plainSize: number, segmentSize: number): number {
  return Math.max(1, Math.ceil(plainSize / segmentSize));
}

export function ciphertextSize(plainSize: number, segmentSize: number): number {
  return HEADER_BYTES + plainSize + TAG_BYTES * segmentCount(plainSize, segmentSize);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

function aad(header: Buffer, index: number, final: boolean): Buffer {
  return Buffer.concat([header, u32(index), Buffer.from([final ? 1 : 0])]);
}

function nonce(prefix: Buffer, index: number): Buffer {
  return Buffer.concat([prefix, u32(index)]);
}

/** Encryption and decryption of blobs under one master key. Holds no key bytes of its own besides derived ones. */
export class BlobCipher {
  readonly keyId: string;
  constructor(
    private readonly key: EncryptionKey,
    readonly segmentSize: number = DEFAULT_SEGMENT_SIZE,
  ) {
    if (!Number.isInteger(segmentSize) || segmentSize < MIN_SEGMENT_SIZE || segmentSize > MAX_SEGMENT_SIZE) {
      throw new RangeError(`segment size must be ${MIN_SEGMENT_SIZE}..${MAX_SEGMENT_SIZE} bytes`);
    }
    this.keyId = key.id;
  }

  private derive(label: string, sha256Hex: string): Buffer {
    return createHmac('sha256', this.key.reveal()).update(`${label}\0`).update(Buffer.from(sha256Hex, 'hex')).digest();
  }

  /** The bucket name of the encrypted blob of a plaintext with this SHA-256. */
  blobName(sha256Hex: string): string {
    return this.derive('ferry-blob-name-v1', sha256Hex).toString('hex');
  }

  ciphertextSize(plainSize: number): number {
    return ciphertextSize(plainSize, this.segmentSize);
  }

  /** The per-object state: derived key, header. */
  object(sha256Hex: string, segmentSize = this.segmentSize): SealedObject {
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.writeUInt32BE(segmentSize, 8);
    Buffer.from(this.keyId, 'hex').copy(header, 12);
    this.derive('ferry-nonce-v1', sha256Hex).copy(header, 20, 0, 8);
    return new SealedObject(this.derive('ferry-object-key-v1', sha256Hex), header, segmentSize);
  }
}

/** One object's derived key and header; seals and opens its segments. */
export class SealedObject {
  constructor(
    private readonly objectKey: Buffer,
    readonly header: Buffer,
    readonly segmentSize: number,
  ) {}

  private get prefix(): Buffer {
    return this.header.subarray(20, 28);
  }

  seal(index: number, plaintext: Buffer, final: boolean): Buffer {
    const c = createCipheriv('aes-256-gcm', this.objectKey, nonce(this.prefix, index));
    c.setAAD(aad(this.header, index, final));
    return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  }

  /** Decrypts one segment (ciphertext | tag); throws if its tag does not verify. */
  open(index: number, sealed: Buffer, final: boolean): Buffer {
    const d = createDecipheriv('aes-256-gcm', this.objectKey, nonce(this.prefix, index));
    d.setAAD(aad(this.header, index, final));
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const out = d.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    d.final();
    return out;
  }
}

export interface PlainSource {
  fh: FileHandle;
  path: string;
  size: number;
  /** CRC32 of each plaintext segment from the hashing pass: a segment that changed since is refused. */
  segmentCrc32: number[];
}

/**
 * Writes ciphertext bytes [start, start + length) of `src` encrypted as `obj` into out[0..length):
 * reads and seals only the segments that overlap the range. Deterministic, so any part can be
 * produced again for a resumed upload.
 */
export async function readCipherRange(obj: SealedObject, src: PlainSource, start: number, length: number, out: Buffer): Promise<void> {
  const S = obj.segmentSize;
  const n = segmentCount(src.size, S);
  const end = start + length;
  if (start < HEADER_BYTES) obj.header.copy(out, 0, start, Math.min(HEADER_BYTES, end));
  if (end <= HEADER_BYTES) return;
  const stride = S + TAG_BYTES;
  const first = Math.floor(Math.max(0, start - HEADER_BYTES) / stride);
  const last = Math.min(n - 1, Math.floor((end - 1 - HEADER_BYTES) / stride));
  const scratch = Buffer.allocUnsafe(Math.min(S, Math.max(0, src.size)));
  for (let i = first; i <= last; i++) {
    const pStart = i * S;
    const pLen = Math.min(S, src.size - pStart);
    const got = await readAt(src.fh, scratch, pLen, pStart);
    const plain = scratch.subarray(0, pLen);
    if (got !== pLen || crc32(plain) !== src.segmentCrc32[i]) {
      throw new LocalLayerInvalid(src.path, 'its content changed while it was being uploaded; do not modify images dirs until the push finishes');
    }
    const sealed = obj.seal(i, plain, i === n - 1);
    const cStart = HEADER_BYTES + i * stride;
    const from = Math.max(start, cStart);
    const to = Math.min(end, cStart + sealed.length);
    sealed.copy(out, from - start, from - cStart, to - cStart);
  }
}

/**
 * A stream that takes an encrypted object and gives its plaintext, segment by segment, each only
 * after its tag verified. Memory: about two segments. Any failure is a DecryptionFailed naming the
 * object (never the key).
 */
export class DecryptStream extends Transform {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private obj: SealedObject | null = null;
  private index = 0;

  constructor(
    private readonly cipher: BlobCipher,
    private readonly sha256Hex: string,
    private readonly objectKey: string,
  ) {
    super();
  }

  private takeBytes(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return head;
  }

  private fail(reason: string, cause?: unknown): DecryptionFailed {
    return new DecryptionFailed(this.objectKey, reason, cause === undefined ? undefined : { cause });
  }

  private readHeader(): void {
    const header = this.takeBytes(HEADER_BYTES);
    if (!header.subarray(0, 8).equals(MAGIC)) throw this.fail('it does not start with a ferry encryption header (not encrypted, or damaged)');
    const segmentSize = header.readUInt32BE(8);
    if (segmentSize < MIN_SEGMENT_SIZE || segmentSize > MAX_SEGMENT_SIZE) throw this.fail(`its header names an impossible segment size (${segmentSize})`);
    const keyId = header.subarray(12, 20).toString('hex');
    if (keyId !== this.cipher.keyId) {
      throw this.fail(`it was encrypted with key ${keyId}, but the configured key is ${this.cipher.keyId}`);
    }
    // The header is derived from the key and the plaintext hash: any other header is not ours.
    const obj = this.cipher.object(this.sha256Hex, segmentSize);
    if (!obj.header.equals(header)) throw this.fail('its header does not belong to this file (wrong object, or the manifest\'s plaintext hash is wrong)');
    this.obj = obj;
  }

  private openSegment(sealed: Buffer, final: boolean): void {
    try {
      this.push(this.obj!.open(this.index, sealed, final));
    } catch (err) {
      throw this.fail(`segment ${this.index} failed authentication (the object was altered, truncated or reordered, or the plaintext hash in the manifest is wrong)`, err);
    }
    this.index++;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      if (!this.obj) {
        if (this.buffered < HEADER_BYTES) return done();
        this.readHeader();
      }
      const stride = this.obj!.segmentSize + TAG_BYTES;
      // Hold back one full segment: only the end of the stream says which segment is the final one.
      while (this.buffered > stride) this.openSegment(this.takeBytes(stride), false);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      if (!this.obj) throw this.fail('it is shorter than the encryption header (truncated)');
      if (this.buffered < TAG_BYTES) throw this.fail('it is truncated (its final segment is missing)');
      this.openSegment(this.takeBytes(this.buffered), true);
      done();
    } catch (err) {
      done(err as Error);
    }
  }
}
