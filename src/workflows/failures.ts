/**
 * How workflows recognise and raise failures: by `type`, never by message text. The kinds, their
 * messages and whether a retry can help are declared once on the classes in src/core.
 */
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, TimeoutFailure } from '@temporalio/workflow';
import { HostUnavailable, InvalidInput, causeChain, failureTypeOf, type FerryError } from '../core';

export { innermostMessage } from '../core';

/** The ApplicationFailure type behind an activity or child-workflow failure, if there is one. */
export function failureType(err: unknown): string | null {
  for (const cur of causeChain(err, 5)) {
    if (cur instanceof ApplicationFailure) return cur.type ?? null;
    if (!(cur instanceof ActivityFailure || cur instanceof ChildWorkflowFailure)) return null;
  }
  return null;
}

/** A ferry error as the ApplicationFailure a workflow throws: its type is the error's kind. */
export function toFailure(err: FerryError, details?: Record<string, unknown>): ApplicationFailure {
  const cause = (err as { cause?: unknown }).cause;
  return ApplicationFailure.create({
    type: failureTypeOf(err.kind),
    message: err.message,
    nonRetryable: !err.retryable,
    cause: cause instanceof Error ? cause : undefined,
    details: details ? [details] : undefined,
  });
}

export function invalidInput(message: string): ApplicationFailure {
  return toFailure(new InvalidInput(message));
}

/**
 * A schedule-to-start timeout on a host's first activity means no worker polls that host's queue:
 * say so plainly (the raw timeout names no host).
 */
export function asHostUnavailable(err: unknown, prefix: string, host: string): unknown {
  if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START') {
    return toFailure(new HostUnavailable(host, prefix), { host });
  }
  return err;
}
