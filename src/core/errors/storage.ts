/**
 * Failures of the layer store (src/storage). Each names the checkpoint, object, bucket or endpoint
 * it is about and says what to do next. None of them ever carries a credential: S3 SDK errors are
 * kept only as `cause`, and the messages are built from our own context, not from the SDK's text.
 * Only an unreachable store is worth retrying; the rest need a person.
 */
import { failureKind, type FerryErrorOptions } from '../ferry-error';

export class CheckpointNotFound extends failureKind('checkpoint-not-found', { retryable: false }) {
  constructor(readonly checkpointId: string, readonly manifestKey: string, options?: FerryErrorOptions) {
    super(
      `checkpoint ${JSON.stringify(checkpointId)} not found: no manifest at ${manifestKey}; ` +
        'run `ferry checkpoints ls` to see the stored checkpoints',
      options,
    );
  }
}

export class CheckpointIncomplete extends failureKind('checkpoint-incomplete', { retryable: false }) {
  constructor(readonly checkpointId: string) {
    super(
      `checkpoint ${JSON.stringify(checkpointId)} is incomplete (its upload never finished), so nothing ` +
        'was downloaded; push it again, or pass allowIncomplete / --allow-incomplete to fetch the stored layers anyway',
    );
  }
}

export class CheckpointInUse extends failureKind('checkpoint-in-use', { retryable: false }) {
  constructor(readonly checkpointId: string, readonly usedBy: string[]) {
    super(
      `checkpoint ${JSON.stringify(checkpointId)} was not deleted: its layers are the base of ` +
        `${usedBy.map((id) => JSON.stringify(id)).join(', ')}; delete those first`,
    );
  }
}

export class CheckpointExists extends failureKind('checkpoint-exists', { retryable: false }) {
  constructor(readonly checkpointId: string, readonly problem: string) {
    super(`checkpoint ${JSON.stringify(checkpointId)} already exists and was left unchanged: ${problem}; use a new id or delete it first (ferry checkpoints rm)`);
  }
}

export class ObjectMissing extends failureKind('object-missing', { retryable: false }) {
  constructor(readonly key: string, readonly bucket: string, detail = '', options?: FerryErrorOptions) {
    super(
      `object s3://${bucket}/${key} is missing${detail ? ` (${detail})` : ''}; the checkpoint that needs it ` +
        'cannot be restored from this store: push it again from its source host',
      options,
    );
  }
}

export class ChecksumMismatch extends failureKind('checksum-mismatch', { retryable: false }) {
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly actual: string,
    detail = 'the stored bytes differ from what the manifest recorded; nothing from it was used',
    options?: FerryErrorOptions,
  ) {
    super(`checksum mismatch for ${key}: expected sha256 ${expected}, got ${actual}; ${detail}`, options);
  }
}

export class BucketMissing extends failureKind('bucket-missing', { retryable: false }) {
  constructor(readonly bucket: string, readonly endpoint: string, options?: FerryErrorOptions) {
    super(
      `bucket ${JSON.stringify(bucket)} does not exist at ${endpoint}; create it (the dev stack: \`ferry dev up\`) ` +
        'or set FERRY_S3_BUCKET to an existing bucket',
      options,
    );
  }
}

export class AccessDenied extends failureKind('access-denied', { retryable: false }) {
  /** `why`: the store rejected the credentials sent, or the AWS provider chain found none to send. */
  constructor(readonly bucket: string, readonly endpoint: string, readonly operation: string, options?: FerryErrorOptions & { why?: 'rejected' | 'no-credentials' }) {
    super(
      options?.why === 'no-credentials'
        ? `no S3 credentials for ${operation} on bucket ${JSON.stringify(bucket)} at ${endpoint}: the AWS provider chain found none; ` +
            'set AWS_PROFILE (a profile in ~/.aws/credentials or ~/.aws/config), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with an instance or pod role'
        : `access denied by ${endpoint} for ${operation} on bucket ${JSON.stringify(bucket)}: the credentials from the ` +
            'AWS provider chain were rejected (wrong key or secret, or no permission); check AWS_PROFILE / ' +
            'AWS_ACCESS_KEY_ID or the shared credentials file',
      options,
    );
  }
}

export class StorageUnreachable extends failureKind('storage-unreachable', { retryable: true }) {
  /** `uploading`: the failed request was part of an upload, which a retry resumes. */
  constructor(readonly endpoint: string, readonly reason: string, options?: FerryErrorOptions & { uploading?: boolean }) {
    super(
      `storage endpoint ${endpoint} is unreachable (${reason}); start it (the dev stack: \`ferry dev up\`) or ` +
        'check FERRY_S3_ENDPOINT (or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, which it overrides)' +
        (options?.uploading ? '; an interrupted upload resumes where it stopped when retried' : ''),
      options,
    );
  }
}

export class ManifestInvalid extends failureKind('manifest-invalid', { retryable: false }) {
  constructor(readonly key: string, readonly problem: string, options?: FerryErrorOptions) {
    super(`manifest ${key} is invalid: ${problem}; nothing was read from it. Push the checkpoint again`, options);
  }
}

export class LocalLayerInvalid extends failureKind('local-layer-invalid', { retryable: false }) {
  constructor(readonly dir: string, readonly problem: string, options?: FerryErrorOptions) {
    super(`${dir} is not a usable CRIU images dir: ${problem}; nothing was uploaded`, options);
  }
}

export class TransferAborted extends failureKind('transfer-aborted', { retryable: false }) {
  constructor(readonly what: string, options?: FerryErrorOptions) {
    super(
      `${what} was cancelled; parts already stored are kept and a retry resumes from them ` +
        '(`ferry gc` removes abandoned uploads after a day)',
      options,
    );
  }
}

export class DecryptionFailed extends failureKind('decryption-failed', { retryable: false }) {
  constructor(readonly key: string, readonly reason: string, options?: FerryErrorOptions) {
    super(
      `encrypted object ${key} could not be decrypted: ${reason}; nothing from it was written. ` +
        'Check that the configured encryption key is the one the checkpoint was pushed with, or push the checkpoint again',
      options,
    );
  }
}

/** A layer needs another key than the configured one (or a key when none is configured). Names key ids, never keys. */
export class EncryptionKeyMismatch extends failureKind('encryption-key-mismatch', { retryable: false }) {
  constructor(readonly checkpointId: string, readonly neededKeyId: string, readonly configuredKeyId: string | null) {
    super(
      `checkpoint ${JSON.stringify(checkpointId)} is encrypted with key ${neededKeyId}, ` +
        (configuredKeyId ? `but the configured key is ${configuredKeyId}` : 'but no encryption key is configured') +
        '; nothing was downloaded. Set FERRY_ENCRYPTION_KEY_FILE to the key it was pushed with',
    );
  }
}

/** With a key configured, plaintext layers are refused unless asked for: the manifest itself is not authenticated. */
export class UnencryptedLayerRefused extends failureKind('unencrypted-layer-refused', { retryable: false }) {
  constructor(readonly checkpointId: string, readonly position: number) {
    super(
      `checkpoint ${JSON.stringify(checkpointId)} has an unencrypted layer at position ${position} while an encryption key is ` +
        'configured, so nothing was downloaded (an unencrypted layer is not authenticated by the key). ' +
        'If it is a checkpoint pushed before encryption was turned on, pull it with --allow-unencrypted (allowUnencrypted)',
    );
  }
}

/** The store refused the server-side encryption asked for (no KMS configured, unknown KMS key, ...). */
export class ServerSideEncryptionRefused extends failureKind('sse-refused', { retryable: false }) {
  constructor(readonly bucket: string, readonly endpoint: string, readonly mode: string, readonly code: string, options?: FerryErrorOptions) {
    super(
      `${endpoint} refused server-side encryption ${mode} for bucket ${JSON.stringify(bucket)} (${code}); nothing was stored. ` +
        'Configure a KMS on the store (MinIO: MINIO_KMS_SECRET_KEY or KES), fix FERRY_S3_SSE_KMS_KEY_ID, or unset FERRY_S3_SSE',
      options,
    );
  }
}

/** Every layer-store error class, for the failure catalogue (./index.ts). */
export const STORAGE_ERRORS = [
  CheckpointNotFound,
  CheckpointIncomplete,
  CheckpointInUse,
  CheckpointExists,
  ObjectMissing,
  ChecksumMismatch,
  BucketMissing,
  AccessDenied,
  StorageUnreachable,
  ManifestInvalid,
  LocalLayerInvalid,
  TransferAborted,
  DecryptionFailed,
  EncryptionKeyMismatch,
  UnencryptedLayerRefused,
  ServerSideEncryptionRefused,
] as const;
