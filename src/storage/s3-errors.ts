/**
 * Turns AWS SDK failures into the layer store's typed errors. The SDK's own message is never
 * copied into ours (it can echo request details); the SDK error stays reachable as `cause`.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../config/config';
import { AccessDenied, BucketMissing, ObjectMissing, StorageUnreachable, TransferAborted, isError } from '../core';

export interface S3Context {
  bucket: string;
  endpoint: string;
  /** What we were doing, for messages: "upload of ferry/blobs/...". */
  operation: string;
  key?: string;
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  errno?: number;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);

function networkCode(err: unknown): string | null {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current; depth++) {
    const e = current as SdkErrorShape;
    if (e.code && NETWORK_CODES.has(e.code)) return e.code;
    if (e.name === 'TimeoutError') return 'timeout';
    // The SDK's retry layer re-wraps non-Error throwables (e.g. errors from another JS realm, as
    // under Jest) into a plain message, dropping `code`: recognise the code in the text then.
    const message = (current as { message?: unknown }).message;
    if (typeof message === 'string') {
      const m = /\b(E[A-Z]{3,}|UND_ERR_SOCKET)\b/.exec(message);
      if (m && NETWORK_CODES.has(m[1])) return m[1];
      // Node's own words for a connection the server dropped, re-wrapped the same way.
      if (/socket hang up/.test(message)) return 'ECONNRESET';
      if (/\bTimeoutError\b/.test(message)) return 'timeout';
    }
    current = e.cause;
  }
  return null;
}

export function isAbortError(err: unknown): boolean {
  const name = (err as SdkErrorShape | null)?.name;
  return name === 'AbortError' || name === 'TransferAborted';
}

/** True for failures a later retry could get past: network trouble and server-side 5xx. */
export function isTransientS3Error(err: unknown): boolean {
  if (networkCode(err)) return true;
  const status = (err as SdkErrorShape | null)?.$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}

export function errorCode(err: unknown): string | undefined {
  const e = err as SdkErrorShape | null;
  return e?.Code ?? e?.name;
}

export function httpStatus(err: unknown): number | undefined {
  return (err as SdkErrorShape | null)?.$metadata?.httpStatusCode;
}

/** Maps an SDK error to a typed one; returns typed errors unchanged and unknown ones as they are. */
export function translateS3Error(err: unknown, ctx: S3Context): unknown {
  // Already typed (ours, or translated further down the stack): keep it.
  if (isError(err)) return err;
  if (isAbortError(err)) return new TransferAborted(ctx.operation, { cause: err });
  const code = errorCode(err);
  const status = httpStatus(err);
  const net = networkCode(err);
  if (net) return new StorageUnreachable(ctx.endpoint, net, { cause: err, uploading: /^upload of /.test(ctx.operation) });
  if (code === 'NoSuchBucket') return new BucketMissing(ctx.bucket, ctx.endpoint, { cause: err });
  if (
    code === 'InvalidAccessKeyId' ||
    code === 'SignatureDoesNotMatch' ||
    code === 'AccessDenied' ||
    code === 'Forbidden' ||
    code === 'InvalidToken' ||
    code === 'ExpiredToken' ||
    status === 403
  ) {
    return new AccessDenied(ctx.bucket, ctx.endpoint, ctx.operation, { cause: err });
  }
  if ((code === 'NoSuchKey' || code === 'NotFound' || status === 404) && ctx.key) {
    return new ObjectMissing(ctx.key, ctx.bucket, undefined, { cause: err });
  }
  if (code === 'CredentialsProviderError') {
    return new AccessDenied(ctx.bucket, ctx.endpoint, ctx.operation, { cause: err, why: 'no-credentials' });
  }
  if (err instanceof Error && /^Region is missing/.test(err.message)) {
    return new ConfigError('FERRY_S3_REGION', 'is not set, and neither AWS_REGION nor the AWS profile (AWS_PROFILE in ~/.aws/config) names a region; set one of them');
  }
  return err;
}

/** A printable endpoint for messages: scheme://host:port, never any credentials. */
export async function describeEndpoint(client: S3Client): Promise<string> {
  try {
    const provider = client.config.endpoint;
    if (!provider) return `AWS S3 (${await client.config.region()})`;
    const ep = await provider();
    const port = ep.port ? `:${ep.port}` : '';
    return `${ep.protocol}//${ep.hostname}${port}`;
  } catch {
    return 'the configured S3 endpoint';
  }
}
