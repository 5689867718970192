import {
  AccessDenied,
  BucketMissing,
  CheckpointNotFound,
  ChecksumMismatch,
  ObjectMissing,
  StorageUnreachable,
  TransferAborted,
} from '../../src/storage';
import { translateS3Error } from '../../src/storage/s3-errors';
import { s3Error } from '../helpers/fake-s3';
import { errorKind, isError } from '../../src/core';

const ctx = { bucket: 'ferry', endpoint: 'http://127.0.0.1:9000', operation: 'upload of x', key: 'ferry/blobs/sha256/ab' };

describe('storage errors', () => {
  it('gives each kind a stable string and keeps it across serialisation', () => {
    const errors = [
      new CheckpointNotFound('c1', 'ferry/checkpoints/c1/manifest.json'),
      new ObjectMissing('k', 'ferry'),
      new ChecksumMismatch('k', 'a', 'b'),
      new BucketMissing('ferry', 'http://x'),
      new AccessDenied('ferry', 'http://x', 'put'),
      new StorageUnreachable('http://x', 'ECONNREFUSED'),
      new TransferAborted('push'),
    ];
    const kinds = errors.map((e) => errorKind(e));
    expect(new Set(kinds).size).toBe(errors.length);
    expect(kinds.every((k) => k !== null)).toBe(true);
    // A plain object with the name (as after crossing Temporal) maps the same way.
    for (const e of errors) expect(errorKind({ name: e.name, message: e.message })).toBe(errorKind(e));
    expect(errorKind(new Error('x'))).toBeNull();
    expect(StorageUnreachable.retryable).toBe(true);
    expect(ChecksumMismatch.retryable).toBe(false);
  });

  it('maps SDK failures to typed errors naming the bucket, key or endpoint', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'ECONNREFUSED' });
    const unreachable = translateS3Error(refused, ctx);
    expect(isError(unreachable, StorageUnreachable)).toBe(true);
    expect((unreachable as Error).message).toContain('http://127.0.0.1:9000');

    const nested = Object.assign(new Error('socket'), { name: 'Error', cause: refused });
    expect(isError(translateS3Error(nested, ctx), StorageUnreachable)).toBe(true);
    // The SDK's retry layer re-wraps a dropped connection into a bare message (seen when MinIO was killed mid-upload).
    for (const text of ['AWS SDK error wrapper for TimeoutError: socket hang up', 'AWS SDK error wrapper for TimeoutError: read timed out']) {
      expect([text, isError(translateS3Error(new Error(text), ctx), StorageUnreachable)]).toEqual([text, true]);
    }

    const bucket = translateS3Error(s3Error('NoSuchBucket', 404), ctx);
    expect(isError(bucket, BucketMissing)).toBe(true);
    expect((bucket as Error).message).toContain('"ferry"');

    expect(isError(translateS3Error(s3Error('InvalidAccessKeyId', 403), ctx), AccessDenied)).toBe(true);
    expect(isError(translateS3Error(s3Error('SignatureDoesNotMatch', 403), ctx), AccessDenied)).toBe(true);
    const missing = translateS3Error(s3Error('NoSuchKey', 404), ctx);
    expect(isError(missing, ObjectMissing)).toBe(true);
    expect((missing as Error).message).toContain(ctx.key);
  });

  it('never copies the SDK message (which may echo request details) into its own', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const sdk = Object.assign(s3Error('SignatureDoesNotMatch', 403), { message: `signature ... ${secret}` });
    const typed = translateS3Error(sdk, ctx) as Error;
    expect(typed.message).not.toContain(secret);
    expect(typed.message).toMatch(/credentials/);
  });
});

describe('storage errors give only the hint that fits', () => {
  it('no credentials at all is not called a rejection', () => {
    const noCreds = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    const err = translateS3Error(noCreds, { ...ctx, operation: 'listing of ferry/checkpoints/' }) as Error;
    expect(isError(err, AccessDenied)).toBe(true);
    expect(err.message).toMatch(/^no S3 credentials for listing of ferry\/checkpoints\/ on bucket "ferry" at http:\/\/127\.0\.0\.1:9000: the AWS provider chain found none; set AWS_PROFILE/);
    expect(err.message).not.toMatch(/rejected/);
    const rejected = translateS3Error(s3Error('InvalidAccessKeyId', 403), ctx) as Error;
    expect(rejected.message).toMatch(/were rejected/);
    expect(rejected.message).not.toMatch(/found none/);
  });

  it('an unreachable store mentions resuming only for an upload', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'ECONNREFUSED' });
    const upload = translateS3Error(refused, ctx) as Error;
    expect(upload.message).toMatch(/an interrupted upload resumes where it stopped when retried/);
    const listing = translateS3Error(refused, { ...ctx, operation: 'listing of ferry/checkpoints/', key: undefined }) as Error;
    expect(isError(listing, StorageUnreachable)).toBe(true);
    expect(listing.message).not.toMatch(/resumes/);
    expect(listing.message).toMatch(/AWS_ENDPOINT_URL_S3/);
  });

  it('a region nobody gave is a configuration error naming where it can come from', () => {
    const err = translateS3Error(new Error('Region is missing'), ctx) as Error;
    expect(err.message).toMatch(/FERRY_S3_REGION is not set, and neither AWS_REGION nor the AWS profile/);
  });
});
