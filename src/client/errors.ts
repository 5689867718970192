/**
 * Failures of the typed client, each with a stable name (exit code 1 in the CLI, message printed).
 */

/** The Temporal frontend could not be reached. */
export class TemporalUnavailableError extends Error {
  override readonly name = 'TemporalUnavailableError';
  constructor(
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    super(
      `cannot reach Temporal at ${address}; start the dev stack with \`ferry dev up\` or set FERRY_TEMPORAL_ADDRESS ` +
        '(and FERRY_TEMPORAL_TLS for TLS clusters)',
      options,
    );
  }
}

/** A checkpoint (or migration, or warm pre-dump) of this process is already running. */
export class AlreadyRunningError extends Error {
  override readonly name = 'AlreadyRunningError';
  constructor(
    readonly workflowId: string,
    readonly what: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${what} is already running as workflow ${workflowId}; wait for it (\`ferry status ${workflowId}\`) ` +
        `or cancel it (\`temporal workflow cancel --workflow-id ${workflowId}\`), then retry`,
      options,
    );
  }
}

/** A workflow ended in failure; `failureType` is the stable type callers branch on. */
export class WorkflowRunFailedError extends Error {
  override readonly name = 'WorkflowRunFailedError';
  constructor(
    readonly workflowId: string,
    readonly failureType: string | null,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`workflow ${workflowId} failed${failureType ? ` (${failureType})` : ''}: ${detail}`, options);
  }
}

/** No workflow and no stored checkpoint has this id. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  constructor(readonly id: string) {
    super(`no ferry workflow with id ${JSON.stringify(id)}; list them with \`temporal workflow list\` or give the workflow id printed by the command that started it`);
  }
}

/** No ferry worker polls a host's activity task queue: work for that host would wait forever. */
export class HostNotServedError extends Error {
  override readonly name = 'HostNotServedError';
  constructor(
    readonly host: string,
    readonly taskQueue: string,
    options?: { cause?: unknown },
  ) {
    super(`no ferry worker serves host ${host}: start \`ferry worker --host ${host}\` on that host (nothing was started; task queue ${taskQueue} has no pollers)`, options);
  }
}

/** No schedule has this name. */
export class NoSuchScheduleError extends Error {
  override readonly name = 'NoSuchScheduleError';
  constructor(
    readonly scheduleId: string,
    options?: { cause?: unknown },
  ) {
    super(`no schedule named ${JSON.stringify(scheduleId)}; list them with \`ferry schedule ls\``, options);
  }
}

const has = (err: unknown, name: string) => (err as { name?: unknown } | null)?.name === name;
export const isTemporalUnavailableError = (e: unknown): e is TemporalUnavailableError => e instanceof TemporalUnavailableError || has(e, 'TemporalUnavailableError');
export const isAlreadyRunningError = (e: unknown): e is AlreadyRunningError => e instanceof AlreadyRunningError || has(e, 'AlreadyRunningError');
export const isWorkflowRunFailedError = (e: unknown): e is WorkflowRunFailedError => e instanceof WorkflowRunFailedError || has(e, 'WorkflowRunFailedError');
export const isNotFoundError = (e: unknown): e is NotFoundError => e instanceof NotFoundError || has(e, 'NotFoundError');
export const isHostNotServedError = (e: unknown): e is HostNotServedError => e instanceof HostNotServedError || has(e, 'HostNotServedError');
export const isNoSuchScheduleError = (e: unknown): e is NoSuchScheduleError => e instanceof NoSuchScheduleError || has(e, 'NoSuchScheduleError');
