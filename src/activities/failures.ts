/**
 * The one place that decides what is worth retrying. CRIU and storage errors carry a stable kind;
 * permanent kinds become non-retryable ApplicationFailures whose `type` is the kind in PascalCase
 * (no-such-process -> NoSuchProcess), which workflows and callers branch on. Transient kinds keep
 * their type but stay retryable; anything unknown (EIO, ENOSPC, a bug) is rethrown as it is and
 * Temporal retries it under the activity's retry policy.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { PERMANENT_CRIU_ERROR_KINDS, criuErrorKind } from '../criu/errors';
import { STORAGE_ERROR_RETRYABLE, storageErrorKind } from '../storage/errors';

export function failureTypeOfKind(kind: string): string {
  return kind
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

export function toActivityFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure || err instanceof CancelledFailure) return err;
  const criuKind = criuErrorKind(err);
  const storageKind = criuKind ? null : storageErrorKind(err);
  const kind = criuKind ?? storageKind;
  if (!kind) return err;
  const retryable = criuKind ? !PERMANENT_CRIU_ERROR_KINDS.has(criuKind) : STORAGE_ERROR_RETRYABLE[storageKind!];
  const e = err as Error;
  return ApplicationFailure.create({
    type: failureTypeOfKind(kind),
    message: e.message,
    nonRetryable: !retryable,
    cause: e,
    details: [{ kind, source: criuKind ? 'criu' : 'storage' }],
  });
}

/** A permanent failure of the activities' own making (bad pid file, path outside staging). */
export function permanentFailure(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}
