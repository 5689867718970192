/**
 * Failures of the typed client, each with a stable name (exit code 1 in the CLI, message printed).
 */

import { failureKind, type FerryErrorOptions } from '../core/ferry-error';

/**
 * The Temporal frontend could not be reached. `problem` says at which step (connect-diagnosis.ts),
 * and the message names the settings to change; it never holds key material.
 */
export class TemporalUnavailableError extends failureKind('temporal-unavailable', { retryable: true }) {
  constructor(readonly address: string, readonly problem: string, message: string, options?: FerryErrorOptions) {
    super(message, options);
  }
}

/** A checkpoint (or migration, or warm pre-dump) of this process is already running. */
export class AlreadyRunningError extends failureKind('already-running', { retryable: false }) {
  constructor(readonly workflowId: string, readonly what: string, options?: FerryErrorOptions) {
    super(
      `${what} is already running as workflow ${workflowId}; wait for it (\`ferry status ${workflowId}\`) ` +
        `or cancel it (\`ferry cancel ${workflowId}\`), then retry`,
      options,
    );
  }
}

/** A workflow ended in failure; `failureType` is the stable type callers branch on. */
export class WorkflowRunFailedError extends failureKind('workflow-run-failed', { retryable: false }) {
  constructor(readonly workflowId: string, readonly failureType: string | null, readonly detail: string, options?: FerryErrorOptions) {
    super(`workflow ${workflowId} failed${failureType ? ` (${failureType})` : ''}: ${detail}`, options);
  }
}

/** No workflow and no stored checkpoint has this id. */
export class NotFoundError extends failureKind('workflow-not-found', { retryable: false }) {
  constructor(readonly id: string) {
    super(`no ferry workflow with id ${JSON.stringify(id)}; list them with \`temporal workflow list\` or give the workflow id printed by the command that started it`);
  }
}

/** No ferry worker polls a host's activity task queue: work for that host would wait forever. */
export class HostNotServedError extends failureKind('host-not-served', { retryable: false }) {
  constructor(readonly host: string, readonly taskQueue: string, options?: FerryErrorOptions) {
    super(`no ferry worker serves host ${host}: start \`ferry worker --host ${host}\` on that host (nothing was started; task queue ${taskQueue} has no pollers)`, options);
  }
}

/** No schedule has this name. */
export class NoSuchScheduleError extends failureKind('no-such-schedule', { retryable: false }) {
  constructor(readonly scheduleId: string, options?: FerryErrorOptions) {
    super(`no schedule named ${JSON.stringify(scheduleId)}; list them with \`ferry schedule ls\``, options);
  }
}

