/**
 * Typed failures of the layer store. Each names the checkpoint, object, bucket or endpoint it is
 * about and says what to do next. None of them ever carries a credential: S3 SDK errors are kept
 * only as `cause`, and the messages are built from our own context, not from the SDK's text.
 *
 * `storageErrorKind(err)` gives a stable string per kind so the activities layer can decide what
 * is retryable without parsing messages (see STORAGE_ERROR_RETRYABLE).
 */

export type StorageErrorKind =
  | 'checkpoint-not-found'
  | 'checkpoint-incomplete'
  | 'checkpoint-in-use'
  | 'checkpoint-exists'
  | 'object-missing'
  | 'checksum-mismatch'
  | 'bucket-missing'
  | 'access-denied'
  | 'storage-unreachable'
  | 'manifest-invalid'
  | 'local-layer-invalid'
  | 'transfer-aborted'
  | 'decryption-failed'
  | 'encryption-key-mismatch'
  | 'unencrypted-layer-refused'
  | 'sse-refused';

/** Which kinds a retry can cure (the store or network may come back); the rest need a person. */
export const STORAGE_ERROR_RETRYABLE: Readonly<Record<StorageErrorKind, boolean>> = {
  'checkpoint-not-found': false,
  'checkpoint-incomplete': false,
  'checkpoint-in-use': false,
  'checkpoint-exists': false,
  'object-missing': false,
  'checksum-mismatch': false,
  'bucket-missing': false,
  'access-denied': false,
  'storage-unreachable': true,
  'manifest-invalid': false,
  'local-layer-invalid': false,
  'transfer-aborted': false,
  'decryption-failed': false,
  'encryption-key-mismatch': false,
  'unencrypted-layer-refused': false,
  'sse-refused': false,
};

abstract class StorageError extends Error {
  abstract readonly kind: StorageErrorKind;
}

export class CheckpointNotFound extends StorageError {
  override readonly name = 'CheckpointNotFound';
  readonly kind = 'checkpoint-not-found' as const;
  constructor(
    readonly checkpointId: string,
    readonly manifestKey: string,
    options?: { cause?: unknown },
  ) {
    super(
      `checkpoint ${JSON.stringify(checkpointId)} not found: no manifest at ${manifestKey}; ` +
        'run `ferry checkpoints ls` to see the stored checkpoints',
      options,
    );
  }
}

export class CheckpointIncomplete extends StorageError {
  override readonly name = 'CheckpointIncomplete';
  readonly kind = 'checkpoint-incomplete' as const;
  constructor(readonly checkpointId: string) {
    super(
      `checkpoint ${JSON.stringify(checkpointId)} is incomplete (its upload never finished), so nothing ` +
        'was downloaded; push it again, or pass allowIncomplete / --allow-incomplete to fetch the stored layers anyway',
    );
  }
}

export class CheckpointInUse extends StorageError {
  override readonly name = 'CheckpointInUse';
  readonly kind = 'checkpoint-in-use' as const;
  constructor(
    readonly checkpointId: string,
    readonly usedBy: string[],
  ) {
    super(
      `checkpoint ${JSON.stringify(checkpointId)} was not deleted: its layers are the base of ` +
        `${usedBy.map((id) => JSON.stringify(id)).join(', ')}; delete those first`,
    );
  }
}

export class CheckpointExists extends StorageError {
  override readonly name = 'CheckpointExists';
  readonly kind = 'checkpoint-exists' as const;
  constructor(
    readonly checkpointId: string,
    readonly problem: string,
  ) {
    super(`checkpoint ${JSON.stringify(checkpointId)} already exists and was left unchanged: ${problem}; push under a new id or delete it first`);
  }
}

export class ObjectMissing extends StorageError {
  override readonly name = 'ObjectMissing';
  readonly kind = 'object-missing' as const;
  constructor(
    readonly key: string,
    readonly bucket: string,
    detail = '',
    options?: { cause?: unknown },
  ) {
    super(
      `object s3://${bucket}/${key} is missing${detail ? ` (${detail})` : ''}; the checkpoint that needs it ` +
        'cannot be restored from this store: push it again from its source host',
      options,
    );
  }
}

export class ChecksumMismatch extends StorageError {
  override readonly name = 'ChecksumMismatch';
  readonly kind = 'checksum-mismatch' as const;
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly actual: string,
    detail = 'the stored bytes differ from what the manifest recorded; nothing from it was used',
    options?: { cause?: unknown },
  ) {
    super(`checksum mismatch for ${key}: expected sha256 ${expected}, got ${actual}; ${detail}`, options);
  }
}

export class BucketMissing extends StorageError {
  override readonly name = 'BucketMissing';
  readonly kind = 'bucket-missing' as const;
  constructor(
    readonly bucket: string,
    readonly endpoint: string,
    options?: { cause?: unknown },
  ) {
    super(
      `bucket ${JSON.stringify(bucket)} does not exist at ${endpoint}; create it (the dev stack: \`ferry dev up\`) ` +
        'or set FERRY_S3_BUCKET to an existing bucket',
      options,
    );
  }
}

export class AccessDenied extends StorageError {
  override readonly name = 'AccessDenied';
  readonly kind = 'access-denied' as const;
  constructor(
    readonly bucket: string,
    readonly endpoint: string,
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    super(
      `access denied by ${endpoint} for ${operation} on bucket ${JSON.stringify(bucket)}: the credentials from the ` +
        'AWS provider chain were rejected (wrong key or secret, or no permission); check AWS_PROFILE / ' +
        'AWS_ACCESS_KEY_ID or the shared credentials file',
      options,
    );
  }
}

export class StorageUnreachable extends StorageError {
  override readonly name = 'StorageUnreachable';
  readonly kind = 'storage-unreachable' as const;
  constructor(
    readonly endpoint: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `storage endpoint ${endpoint} is unreachable (${reason}); start it (the dev stack: \`ferry dev up\`) or ` +
        'check FERRY_S3_ENDPOINT; an interrupted upload resumes where it stopped when retried',
      options,
    );
  }
}

export class ManifestInvalid extends StorageError {
  override readonly name = 'ManifestInvalid';
  readonly kind = 'manifest-invalid' as const;
  constructor(
    readonly key: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`manifest ${key} is invalid: ${problem}; nothing was read from it. Push the checkpoint again`, options);
  }
}

export class LocalLayerInvalid extends StorageError {
  override readonly name = 'LocalLayerInvalid';
  readonly kind = 'local-layer-invalid' as const;
  constructor(
    readonly dir: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${dir} is not a usable CRIU images dir: ${problem}; nothing was uploaded`, options);
  }
}

export class TransferAborted extends StorageError {
  override readonly name = 'TransferAborted';
  readonly kind = 'transfer-aborted' as const;
  constructor(
    readonly what: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${what} was cancelled; parts already stored are kept and a retry resumes from them ` +
        '(`ferry gc` removes abandoned uploads after a day)',
      options,
    );
  }
}

export class DecryptionFailed extends StorageError {
  override readonly name = 'DecryptionFailed';
  readonly kind = 'decryption-failed' as const;
  constructor(
    readonly key: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `encrypted object ${key} could not be decrypted: ${reason}; nothing from it was written. ` +
        'Check that the configured encryption key is the one the checkpoint was pushed with, or push the checkpoint again',
      options,
    );
  }
}

/** A layer needs another key than the configured one (or a key when none is configured). Names key ids, never keys. */
export class EncryptionKeyMismatch extends StorageError {
  override readonly name = 'EncryptionKeyMismatch';
  readonly kind = 'encryption-key-mismatch' as const;
  constructor(
    readonly checkpointId: string,
    readonly neededKeyId: string,
    readonly configuredKeyId: string | null,
  ) {
    super(
      `checkpoint ${JSON.stringify(checkpointId)} is encrypted with key ${neededKeyId}, ` +
        (configuredKeyId ? `but the configured key is ${configuredKeyId}` : 'but no encryption key is configured') +
        '; nothing was downloaded. Set FERRY_ENCRYPTION_KEY_FILE to the key it was pushed with',
    );
  }
}

/** With a key configured, plaintext layers are refused unless asked for: the manifest itself is not authenticated. */
export class UnencryptedLayerRefused extends StorageError {
  override readonly name = 'UnencryptedLayerRefused';
  readonly kind = 'unencrypted-layer-refused' as const;
  constructor(
    readonly checkpointId: string,
    readonly position: number,
  ) {
    super(
      `checkpoint ${JSON.stringify(checkpointId)} has an unencrypted layer at position ${position} while an encryption key is ` +
        'configured, so nothing was downloaded (an unencrypted layer is not authenticated by the key). ' +
        'If it is a checkpoint pushed before encryption was turned on, pull it with --allow-unencrypted (allowUnencrypted)',
    );
  }
}

/** The store refused the server-side encryption asked for (no KMS configured, unknown KMS key, ...). */
export class ServerSideEncryptionRefused extends StorageError {
  override readonly name = 'ServerSideEncryptionRefused';
  readonly kind = 'sse-refused' as const;
  constructor(
    readonly bucket: string,
    readonly endpoint: string,
    readonly mode: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${endpoint} refused server-side encryption ${mode} for bucket ${JSON.stringify(bucket)} (${code}); nothing was stored. ` +
        'Configure a KMS on the store (MinIO: MINIO_KMS_SECRET_KEY or KES), fix FERRY_S3_SSE_KMS_KEY_ID, or unset FERRY_S3_SSE',
      options,
    );
  }
}

function hasName(err: unknown, name: string): boolean {
  return (err as { name?: unknown } | null)?.name === name;
}

export const isCheckpointNotFound = (e: unknown): e is CheckpointNotFound => e instanceof CheckpointNotFound || hasName(e, 'CheckpointNotFound');
export const isCheckpointIncomplete = (e: unknown): e is CheckpointIncomplete => e instanceof CheckpointIncomplete || hasName(e, 'CheckpointIncomplete');
export const isCheckpointInUse = (e: unknown): e is CheckpointInUse => e instanceof CheckpointInUse || hasName(e, 'CheckpointInUse');
export const isCheckpointExists = (e: unknown): e is CheckpointExists => e instanceof CheckpointExists || hasName(e, 'CheckpointExists');
export const isObjectMissing = (e: unknown): e is ObjectMissing => e instanceof ObjectMissing || hasName(e, 'ObjectMissing');
export const isChecksumMismatch = (e: unknown): e is ChecksumMismatch => e instanceof ChecksumMismatch || hasName(e, 'ChecksumMismatch');
export const isBucketMissing = (e: unknown): e is BucketMissing => e instanceof BucketMissing || hasName(e, 'BucketMissing');
export const isAccessDenied = (e: unknown): e is AccessDenied => e instanceof AccessDenied || hasName(e, 'AccessDenied');
export const isStorageUnreachable = (e: unknown): e is StorageUnreachable => e instanceof StorageUnreachable || hasName(e, 'StorageUnreachable');
export const isManifestInvalid = (e: unknown): e is ManifestInvalid => e instanceof ManifestInvalid || hasName(e, 'ManifestInvalid');
export const isLocalLayerInvalid = (e: unknown): e is LocalLayerInvalid => e instanceof LocalLayerInvalid || hasName(e, 'LocalLayerInvalid');
export const isDecryptionFailed = (e: unknown): e is DecryptionFailed => e instanceof DecryptionFailed || hasName(e, 'DecryptionFailed');
export const isEncryptionKeyMismatch = (e: unknown): e is EncryptionKeyMismatch => e instanceof EncryptionKeyMismatch || hasName(e, 'EncryptionKeyMismatch');
export const isUnencryptedLayerRefused = (e: unknown): e is UnencryptedLayerRefused =>
  e instanceof UnencryptedLayerRefused || hasName(e, 'UnencryptedLayerRefused');
export const isServerSideEncryptionRefused = (e: unknown): e is ServerSideEncryptionRefused =>
  e instanceof ServerSideEncryptionRefused || hasName(e, 'ServerSideEncryptionRefused');
export const isTransferAborted = (e: unknown): e is TransferAborted => e instanceof TransferAborted || hasName(e, 'TransferAborted');

const KIND_BY_NAME: Readonly<Record<string, StorageErrorKind>> = {
  CheckpointNotFound: 'checkpoint-not-found',
  CheckpointIncomplete: 'checkpoint-incomplete',
  CheckpointInUse: 'checkpoint-in-use',
  CheckpointExists: 'checkpoint-exists',
  ObjectMissing: 'object-missing',
  ChecksumMismatch: 'checksum-mismatch',
  BucketMissing: 'bucket-missing',
  AccessDenied: 'access-denied',
  StorageUnreachable: 'storage-unreachable',
  ManifestInvalid: 'manifest-invalid',
  LocalLayerInvalid: 'local-layer-invalid',
  TransferAborted: 'transfer-aborted',
  DecryptionFailed: 'decryption-failed',
  EncryptionKeyMismatch: 'encryption-key-mismatch',
  UnencryptedLayerRefused: 'unencrypted-layer-refused',
  ServerSideEncryptionRefused: 'sse-refused',
};

/**
 * The stable kind of a layer-store error, or null for anything else. Goes by `name`, so it also
 * works on errors that crossed a serialisation boundary (Temporal failures keep the name).
 */
export function storageErrorKind(err: unknown): StorageErrorKind | null {
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(KIND_BY_NAME, name) ? KIND_BY_NAME[name] : null;
}

export function isStorageError(err: unknown): boolean {
  return storageErrorKind(err) !== null;
}
