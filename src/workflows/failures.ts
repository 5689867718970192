/**
 * How workflows recognise and raise failures: by `type`, never by message text.
 */
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, TimeoutFailure } from '@temporalio/workflow';
import { FAILURE_TYPES, hostTaskQueue } from './names';

/** The ApplicationFailure type behind an activity or child-workflow failure, if there is one. */
export function failureType(err: unknown): string | null {
  let cur: unknown = err;
  for (let depth = 0; depth < 5 && cur; depth++) {
    if (cur instanceof ApplicationFailure) return cur.type ?? null;
    if (cur instanceof ActivityFailure || cur instanceof ChildWorkflowFailure) cur = cur.cause;
    else return null;
  }
  return null;
}

export function invalidInput(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FAILURE_TYPES.invalidInput, message, nonRetryable: true });
}

/**
 * A schedule-to-start timeout on a host's first activity means no worker polls that host's queue:
 * say so plainly (the raw timeout names no host).
 */
export function asHostUnavailable(err: unknown, prefix: string, host: string): unknown {
  if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START') {
    return ApplicationFailure.create({
      type: FAILURE_TYPES.hostUnavailable,
      message:
        `no ferry worker picked up work for host ${JSON.stringify(host)} (task queue ${hostTaskQueue(prefix, host)}) ` +
        `within 60 s; start one on that host with \`ferry worker --host ${host}\``,
      nonRetryable: true,
      details: [{ host }],
    });
  }
  return err;
}

/** Message of the innermost failure, for results and summaries. */
export function innermostMessage(err: unknown): string {
  let cur: unknown = err;
  let msg = err instanceof Error ? err.message : String(err);
  for (let depth = 0; depth < 5 && cur instanceof Error; depth++) {
    if (cur.message) msg = cur.message;
    cur = (cur as { cause?: unknown }).cause;
  }
  return msg;
}
