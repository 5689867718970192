/**
 * The bucket as every part of the layer store uses it: the client, the bucket's name and key
 * layout, the endpoint for messages, and the object operations they share, with S3 failures
 * turned into typed errors.
 */
import { createHash } from 'node:crypto';
import { Writable, type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TransferAborted } from '../core';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { KeyLayout } from './keys';
import { describeEndpoint, errorCode, httpStatus, translateS3Error } from './s3-errors';
import { KEY_ID_METADATA, SHA256_METADATA } from './upload';

/** Metadata requests (HEADs, manifest reads, deletes) in flight at once. */
export const META_CONCURRENCY = 8;

/** What a HEAD tells of a stored blob. */
export interface BlobState {
  size: number;
  /** Writer-supplied metadata: a hint for messages, never proof of content. */
  sha256: string | undefined;
  keyId: string | undefined;
  /** The ETag the store computed for the object's content. */
  etag: string | undefined;
}

export interface ListedObject {
  key: string;
  size: number;
  lastModified: Date | undefined;
}

export class StoreBucket {
  private endpointLabel: Promise<string> | undefined;
  private bucketChecked = false;

  constructor(
    readonly client: S3Client,
    readonly name: string,
    readonly keys: KeyLayout,
  ) {}

  /** scheme://host:port of the store, for messages (never credentials). */
  endpoint(): Promise<string> {
    this.endpointLabel ??= describeEndpoint(this.client);
    return this.endpointLabel;
  }

  /** The typed error for a failed request (s3-errors.ts); `operation` is what we were doing, for the message. */
  async translate(err: unknown, operation: string, key: string | undefined): Promise<unknown> {
    return translateS3Error(err, { bucket: this.name, endpoint: await this.endpoint(), operation, key });
  }

  async call<T>(operation: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw await this.translate(err, operation, key);
    }
  }

  /** Size and recorded SHA-256 of a stored blob, or null if it is not there. */
  async head(key: string, signal?: AbortSignal): Promise<BlobState | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key }), { abortSignal: signal });
      return { size: out.ContentLength ?? -1, sha256: out.Metadata?.[SHA256_METADATA], keyId: out.Metadata?.[KEY_ID_METADATA], etag: out.ETag };
    } catch (err) {
      if (httpStatus(err) === 404 && errorCode(err) !== 'NoSuchBucket') {
        // HEAD has no body, so a missing bucket also answers a bare 404: tell them apart.
        await this.checkBucket();
        return null;
      }
      throw await this.translate(err, `check of ${key}`, key);
    }
  }

  /**
   * Reads a stored object through (and through `decrypt`, for an encrypted blob) and returns its
   * ETag if what comes out is exactly `expected.size` bytes with SHA-256 `expected.sha256` (hex);
   * null if it is missing, holds anything else, or does not decrypt. The proof that an object
   * found under a blob's name holds that blob: its metadata was written by whoever wrote it, and a
   * bucket writer can plant any object under any name.
   */
  async readsAs(key: string, expected: { sha256: string; size: number; storedSize: number }, signal?: AbortSignal, decrypt?: Transform): Promise<string | null> {
    let out;
    try {
      out = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key }), { abortSignal: signal });
    } catch (err) {
      if (httpStatus(err) === 404 && errorCode(err) !== 'NoSuchBucket') return null;
      throw await this.translate(err, `check read of ${key}`, key);
    }
    const body = out.Body as Readable | undefined;
    if (!body || (out.ContentLength !== undefined && out.ContentLength !== expected.storedSize)) {
      body?.destroy();
      return null;
    }
    const hash = createHash('sha256');
    let got = 0;
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        got += chunk.length;
        if (got > expected.size) return done(new Error('longer than the blob'));
        hash.update(chunk);
        done();
      },
    });
    try {
      await pipeline([body, ...(decrypt ? [decrypt] : []), sink], { signal });
    } catch (err) {
      if (signal?.aborted) throw new TransferAborted(`check read of ${key}`, { cause: err });
      // Anything wrong with the bytes (or the connection): not proven, so the caller writes it again.
      return null;
    }
    return got === expected.size && hash.digest('hex') === expected.sha256 ? (out.ETag ?? null) : null;
  }

  private async checkBucket(): Promise<void> {
    if (this.bucketChecked) return;
    await this.call('listing of the bucket', undefined, () =>
      this.client.send(new ListObjectsV2Command({ Bucket: this.name, MaxKeys: 1, Prefix: this.keys.checkpointsPrefix })),
    );
    this.bucketChecked = true;
  }

  /** Every object under `prefix`, all pages of the listing followed. */
  async list(prefix: string): Promise<ListedObject[]> {
    const out: ListedObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.call(`listing of ${prefix}`, undefined, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ContinuationToken: token })),
      );
      for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async delete(key: string): Promise<void> {
    await this.call(`deleting ${key}`, key, () => this.client.send(new DeleteObjectCommand({ Bucket: this.name, Key: key })));
  }
}
