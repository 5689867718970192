// Transitional: callers move to isError(err, Class) from src/core.
export * from '../core/errors/storage';
import { isError } from '../core/ferry-error';
import { AccessDenied, BucketMissing, CheckpointExists, CheckpointInUse, CheckpointIncomplete, CheckpointNotFound, ChecksumMismatch, DecryptionFailed, EncryptionKeyMismatch, LocalLayerInvalid, ManifestInvalid, ObjectMissing, ServerSideEncryptionRefused, StorageUnreachable, TransferAborted, UnencryptedLayerRefused } from '../core/errors/storage';
export const isCheckpointNotFound = (e: unknown): e is CheckpointNotFound => isError(e, CheckpointNotFound);
export const isCheckpointIncomplete = (e: unknown): e is CheckpointIncomplete => isError(e, CheckpointIncomplete);
export const isCheckpointInUse = (e: unknown): e is CheckpointInUse => isError(e, CheckpointInUse);
export const isCheckpointExists = (e: unknown): e is CheckpointExists => isError(e, CheckpointExists);
export const isObjectMissing = (e: unknown): e is ObjectMissing => isError(e, ObjectMissing);
export const isChecksumMismatch = (e: unknown): e is ChecksumMismatch => isError(e, ChecksumMismatch);
export const isBucketMissing = (e: unknown): e is BucketMissing => isError(e, BucketMissing);
export const isAccessDenied = (e: unknown): e is AccessDenied => isError(e, AccessDenied);
export const isStorageUnreachable = (e: unknown): e is StorageUnreachable => isError(e, StorageUnreachable);
export const isManifestInvalid = (e: unknown): e is ManifestInvalid => isError(e, ManifestInvalid);
export const isLocalLayerInvalid = (e: unknown): e is LocalLayerInvalid => isError(e, LocalLayerInvalid);
export const isDecryptionFailed = (e: unknown): e is DecryptionFailed => isError(e, DecryptionFailed);
export const isEncryptionKeyMismatch = (e: unknown): e is EncryptionKeyMismatch => isError(e, EncryptionKeyMismatch);
export const isUnencryptedLayerRefused = (e: unknown): e is UnencryptedLayerRefused => isError(e, UnencryptedLayerRefused);
export const isServerSideEncryptionRefused = (e: unknown): e is ServerSideEncryptionRefused => isError(e, ServerSideEncryptionRefused);
export const isTransferAborted = (e: unknown): e is TransferAborted => isError(e, TransferAborted);
import { errorKind } from '../core/errors';
import { STORAGE_ERRORS } from '../core/errors/storage';
export type StorageErrorKind = (typeof STORAGE_ERRORS)[number]['kind'];
export const STORAGE_ERROR_RETRYABLE: Readonly<Record<string, boolean>> = Object.fromEntries(STORAGE_ERRORS.map((c) => [c.kind, c.retryable]));
export const storageErrorKind = (e: unknown): string | null => {
  const k = errorKind(e);
  return k && STORAGE_ERRORS.some((c) => c.kind === k) ? k : null;
};
export const isStorageError = (e: unknown): boolean => storageErrorKind(e) !== null;
