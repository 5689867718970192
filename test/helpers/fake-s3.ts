/**
 * An in-memory stand-in for the S3 API subset the layer store uses, for fast unit tests of its
 * logic (manifests, resume, gc). The integration tests run the same paths against real MinIO.
 * It checks x-amz-checksum-sha256 like a real server, and can be told to fail chosen calls.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';

interface StoredObject {
  body: Buffer;
  metadata: Record<string, string>;
  lastModified: Date;
  etag?: string;
}

interface Upload {
  key: string;
  metadata: Record<string, string>;
  parts: Map<number, { body: Buffer; etag: string; sha: string; crc: string }>;
  initiated: Date;
}

function s3Error(name: string, status: number): Error {
  const err = new Error(name) as Error & { $metadata: { httpStatusCode: number }; Code: string };
  err.name = name;
  err.Code = name;
  err.$metadata = { httpStatusCode: status };
  return err;
}

function toBuffer(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (typeof body === 'string') return Buffer.from(body);
  throw new Error('fake S3 takes Buffer/string bodies only');
}

function sha64(b: Buffer): string {
  return createHash('sha256').update(b).digest('base64');
}

export type FailHook = (command: string, input: Record<string, unknown>) => Error | undefined;

export class FakeS3 {
  readonly objects = new Map<string, StoredObject>();
  readonly uploads = new Map<string, Upload>();
  readonly calls: Array<{ command: string; input: Record<string, unknown> }> = [];
  failHook: FailHook | undefined;
  bucketExists = true;

  readonly config = {
    endpoint: async () => ({ protocol: 'http:', hostname: 'fake-s3', port: 9999, path: '/' }),
    region: async () => 'us-east-1',
  };

  asClient(): S3Client {
    return this as unknown as S3Client;
  }

  count(command: string): number {
    return this.calls.filter((c) => c.command === command).length;
  }

  async send(command: { constructor: { name: string }; input: Record<string, unknown> }, opts?: { abortSignal?: AbortSignal }): Promise<unknown> {
    const name = command.constructor.name.replace(/Command$/, '');
    const input = command.input;
    this.calls.push({ command: name, input });
    await new Promise((r) => setImmediate(r));
    if (opts?.abortSignal?.aborted) {
      const e = new Error('aborted');
      e.name = 'AbortError';
      throw e;
    }
    const injected = this.failHook?.(name, input);
    if (injected) throw injected;
    if (!this.bucketExists) throw name === 'HeadObject' ? s3Error('NotFound', 404) : s3Error('NoSuchBucket', 404);
    const key = input.Key as string;
    switch (name) {
      case 'PutObject': {
        const body = toBuffer(input.Body);
        if (input.ChecksumSHA256 && input.ChecksumSHA256 !== sha64(body)) throw s3Error('BadDigest', 400);
        const etag = `"${createHash('md5').update(body).digest('hex')}"`;
        this.objects.set(key, { body, metadata: (input.Metadata as Record<string, string>) ?? {}, lastModified: new Date(), etag });
        return { ETag: etag };
      }
      case 'HeadObject': {
        const o = this.objects.get(key);
        if (!o) throw s3Error('NotFound', 404);
        return { ContentLength: o.body.length, Metadata: o.metadata, LastModified: o.lastModified, ETag: o.etag };
      }
      case 'GetObject': {
        const o = this.objects.get(key);
        if (!o) throw s3Error('NoSuchKey', 404);
        const range = /^bytes=(\d+)-(\d+)$/.exec((input.Range as string) ?? '');
        const body = range ? o.body.subarray(Number(range[1]), Number(range[2]) + 1) : o.body;
        const stream = Readable.from([body]) as Readable & { transformToString?: () => Promise<string> };
        stream.transformToString = async () => o.body.toString('utf8');
        return { Body: stream, ContentLength: body.length, ETag: o.etag };
      }
      case 'DeleteObject':
        this.objects.delete(key);
        return {};
      case 'ListObjectsV2': {
        const prefix = (input.Prefix as string) ?? '';
        const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
        const max = (input.MaxKeys as number) ?? 1000;
        const start = input.ContinuationToken ? Number(input.ContinuationToken) : 0;
        const page = keys.slice(start, start + max);
        const more = start + max < keys.length;
        return {
          Contents: page.map((k) => ({ Key: k, Size: this.objects.get(k)!.body.length, LastModified: this.objects.get(k)!.lastModified })),
          IsTruncated: more,
          NextContinuationToken: more ? String(start + max) : undefined,
        };
      }
      case 'CreateMultipartUpload': {
        const id = randomUUID();
        this.uploads.set(id, { key, metadata: (input.Metadata as Record<string, string>) ?? {}, parts: new Map(), initiated: new Date() });
        return { UploadId: id };
      }
      case 'UploadPart': {
        const u = this.uploads.get(input.UploadId as string);
        if (!u) throw s3Error('NoSuchUpload', 404);
        const body = toBuffer(input.Body);
        const sha = sha64(body);
        const crcBuf = Buffer.alloc(4);
        crcBuf.writeUInt32BE(crc32(body) >>> 0);
        const crc = crcBuf.toString('base64');
        if (input.ChecksumSHA256 && input.ChecksumSHA256 !== sha) throw s3Error('BadDigest', 400);
        if (input.ChecksumCRC32 && input.ChecksumCRC32 !== crc) throw s3Error('BadDigest', 400);
        const etag = `"${createHash('md5').update(body).digest('hex')}"`;
        u.parts.set(input.PartNumber as number, { body, etag, sha, crc });
        return { ETag: etag, ChecksumCRC32: crc };
      }
      case 'ListMultipartUploads': {
        const prefix = (input.Prefix as string) ?? '';
        const uploads = [...this.uploads.entries()].filter(([, u]) => u.key.startsWith(prefix));
        return { Uploads: uploads.map(([id, u]) => ({ Key: u.key, UploadId: id, Initiated: u.initiated })), IsTruncated: false };
      }
      case 'ListParts': {
        const u = this.uploads.get(input.UploadId as string);
        if (!u) throw s3Error('NoSuchUpload', 404);
        return {
          Parts: [...u.parts.entries()].map(([n, p]) => ({ PartNumber: n, ETag: p.etag, Size: p.body.length, ChecksumCRC32: p.crc })),
          IsTruncated: false,
        };
      }
      case 'CompleteMultipartUpload': {
        const u = this.uploads.get(input.UploadId as string);
        if (!u) throw s3Error('NoSuchUpload', 404);
        const parts = (input.MultipartUpload as { Parts: Array<{ PartNumber: number; ETag: string }> }).Parts;
        const bodies = parts.map((p) => {
          const stored = u.parts.get(p.PartNumber);
          if (!stored || stored.etag !== p.ETag) throw s3Error('InvalidPart', 400);
          return stored.body;
        });
        // As S3 does: MD5 of the parts' binary MD5s, then the part count.
        const md5s = Buffer.concat(parts.map((p) => Buffer.from(u.parts.get(p.PartNumber)!.etag.replace(/"/g, ''), 'hex')));
        const etag = `"${createHash('md5').update(md5s).digest('hex')}-${parts.length}"`;
        this.objects.set(u.key, { body: Buffer.concat(bodies), metadata: u.metadata, lastModified: new Date(), etag });
        this.uploads.delete(input.UploadId as string);
        return { ETag: etag };
      }
      case 'AbortMultipartUpload':
        this.uploads.delete(input.UploadId as string);
        return {};
      default:
        throw new Error(`fake S3 does not implement ${name}`);
    }
  }
}

export { s3Error };
