/**
 * The one place that decides what is worth retrying. Errors of the failure catalogue (src/core)
 * become ApplicationFailures whose `type` is their kind in PascalCase (no-such-process ->
 * NoSuchProcess), which workflows and callers branch on; a class that declares itself not
 * retryable becomes non-retryable. Anything else (EIO, ENOSPC, a bug) is rethrown as it is and
 * Temporal retries it under the activity's retry policy.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { catalogued, failureTypeOf } from '../core';

export function toActivityFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure || err instanceof CancelledFailure) return err;
  const cls = catalogued(err);
  if (!cls) return err;
  const e = err as Error;
  return ApplicationFailure.create({
    type: failureTypeOf(cls.kind),
    message: e.message,
    nonRetryable: !cls.retryable,
    cause: e,
    details: [{ kind: cls.kind }],
  });
}

