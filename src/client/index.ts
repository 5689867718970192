/**
 * The typed TypeScript client for programs that checkpoint, restore and migrate processes with
 * ferry. It starts ferry's workflows under the ids that keep one process from being dumped twice
 * at once, waits for their results, and manages nightly pre-dump schedules.
 *
 *   const ferry = await FerryClient.connect(loadConfig());
 *   const result = await ferry.checkpoint({ host: 'web-1', pid: 4242 });
 */
import { randomUUID } from 'node:crypto';
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  Client,
  Connection,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  isGrpcServiceError,
  type ScheduleDescription,
  type ScheduleSummary,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
  type WorkflowStartOptions,
} from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import type { FerryConfig } from '../config/config';
import type { checkpoint, migrate, restore, warmPreDump } from '../workflows';
import {
  DEFAULT_PREFIX,
  DUMP_NOW_SIGNAL,
  PROGRESS_QUERY,
  newCheckpointId as makeCheckpointId,
  WORKFLOW_TYPES,
  hostTaskQueue,
  migrateWorkflowId,
  processWorkflowId,
  restoreWorkflowId,
  scheduleWorkflowId,
  workflowTaskQueue,
} from '../core';
import type {
  CheckpointInput,
  CheckpointResult,
  MigrateInput,
  MigrateResult,
  RestoreInput,
  RestoreResult,
  WarmPreDumpInput,
} from '../workflows/types';
import { AlreadyRunningError, HostNotServedError, NoSuchScheduleError, NotFoundError, TemporalUnavailableError, WorkflowRunFailedError } from './errors';
import { connectFailureMessage, diagnoseConnection } from './connect-diagnosis';

/** ferry's workflows by the type name Temporal knows them under: what typed starts are checked against. */
interface FerryWorkflows {
  checkpoint: typeof checkpoint;
  restore: typeof restore;
  migrate: typeof migrate;
  warmPreDump: typeof warmPreDump;
}
type FerryWorkflowInput<K extends keyof FerryWorkflows> = Parameters<FerryWorkflows[K]>[0];

export * from './errors';

/** A new checkpoint id: `<host>-<pid>-<8 random hex>` (valid for the layer store). */
export function newCheckpointId(host: string, pid: number): string {
  return makeCheckpointId(host, pid, randomUUID());
}

export interface FerryClientOptions {
  client: Client;
  /** Task-queue prefix (config.temporal.taskQueuePrefix). */
  taskQueuePrefix?: string;
  /** Temporal web UI base URL, for links (config.temporal.webUrl). */
  webUrl?: string;
}

export interface WorkflowStatus {
  workflowId: string;
  runId: string;
  type: string;
  status: string;
  startTime: string;
  closeTime: string | null;
  url: string | null;
  /** The `progress` query's answer while running (null when the workflow is closed or has none). */
  progress: unknown;
  /** The result once completed. */
  result: unknown;
  /** Failure type and message once failed. */
  failure: { type: string | null; message: string } | null;
}

export interface WarmScheduleOptions {
  scheduleId: string;
  /** Cron expression(s), e.g. "0 2 * * *" (server time zone: UTC unless timeZone is given). */
  cron: string;
  timeZone?: string;
  input: WarmPreDumpInput;
  note?: string;
}

/** Turns a failed workflow into a WorkflowRunFailedError carrying the innermost failure type. */
export function explainFailure(workflowId: string, err: unknown): unknown {
  if (!(err instanceof WorkflowFailedError)) return err;
  let cur: unknown = err.cause;
  let type: string | null = null;
  let message = err.cause?.message ?? err.message;
  for (let depth = 0; depth < 6 && cur instanceof Error; depth++) {
    if (cur instanceof ApplicationFailure) {
      type = cur.type ?? type;
      message = cur.message;
      // Keep walking: an ApplicationFailure may wrap the typed error that explains it better.
      if (type) break;
    }
    if (cur.message) message = cur.message;
    cur = cur instanceof ActivityFailure || cur instanceof ChildWorkflowFailure ? cur.cause : (cur as { cause?: unknown }).cause;
  }
  return new WorkflowRunFailedError(workflowId, type, message, { cause: err });
}

export class FerryClient {
  readonly client: Client;
  readonly taskQueuePrefix: string;
  readonly webUrl: string | undefined;
  private readonly ownedConnection: Connection | null;

  constructor(options: FerryClientOptions, ownedConnection: Connection | null = null) {
    this.client = options.client;
    this.taskQueuePrefix = options.taskQueuePrefix ?? DEFAULT_PREFIX;
    this.webUrl = options.webUrl;
    this.ownedConnection = ownedConnection;
  }

  /** Connects with ferry's configuration; close() releases the connection. */
  static async connect(config: FerryConfig): Promise<FerryClient> {
    const temporal = config.temporal;
    let connection: Connection;
    try {
      connection = await Connection.connect({ address: temporal.address, ...temporal.secrets.connectionOptions(), connectTimeout: '5s' });
    } catch (err) {
      const problem = await diagnoseConnection(temporal);
      throw new TemporalUnavailableError(temporal.address, problem.kind, connectFailureMessage(temporal, problem, err), { cause: err });
    }
    const client = new Client({ connection, namespace: config.temporal.namespace });
    return new FerryClient({ client, taskQueuePrefix: config.temporal.taskQueuePrefix, webUrl: config.temporal.webUrl }, connection);
  }

  async close(): Promise<void> {
    await this.ownedConnection?.close();
  }

  get workflowQueue(): string {
    return workflowTaskQueue(this.taskQueuePrefix);
  }

  /** Link to a workflow in Temporal's web UI. */
  workflowUrl(workflowId: string, runId?: string): string | null {
    if (!this.webUrl) return null;
    const ns = encodeURIComponent(this.client.options.namespace);
    const base = `${this.webUrl}/namespaces/${ns}/workflows/${encodeURIComponent(workflowId)}`;
    return runId ? `${base}/${encodeURIComponent(runId)}/history` : base;
  }

  /**
   * Throws HostNotServedError unless some worker polls `host`'s activity task queue. Every ferry
   * workflow's first step runs there; without a worker it would wait (a schedule would fire) for
   * nothing. Temporal lists a poller for a few minutes after it last polled, so a worker that has
   * just died still counts: the workflow then waits for it, or fails HostUnavailable.
   */
  async assertHostServed(host: string): Promise<void> {
    const taskQueue = hostTaskQueue(this.taskQueuePrefix, host);
    const res = await this.client.workflowService.describeTaskQueue({
      namespace: this.client.options.namespace,
      // Enum values of temporal.api.enums.v1 (TASK_QUEUE_KIND_NORMAL, TASK_QUEUE_TYPE_ACTIVITY);
      // @temporalio/proto is not a direct dependency.
      taskQueue: { name: taskQueue, kind: 1 },
      taskQueueType: 2,
    });
    if ((res.pollers ?? []).length === 0) throw new HostNotServedError(host, taskQueue);
  }

  /**
   * Starts workflow `type` with `arg`, type-checked against that workflow's own signature: the
   * name is the key of FerryWorkflows, so a wrong input shape is a compile error, not a failed run.
   */
  private async start<K extends keyof FerryWorkflows>(
    type: K,
    workflowId: string,
    what: string,
    arg: FerryWorkflowInput<K>,
    memo: Record<string, unknown>,
  ): Promise<WorkflowHandleWithFirstExecutionRunId<FerryWorkflows[K]>> {
    try {
      const options: WorkflowStartOptions<(input: FerryWorkflowInput<K>) => ReturnType<FerryWorkflows[K]>> = {
        taskQueue: this.workflowQueue,
        workflowId,
        args: [arg],
        // Lets `status` find a run by checkpoint id (custom search attributes need server setup).
        memo,
        // One running workflow per id (that is the per-process lock); finished ones may be rerun.
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      };
      return await this.client.workflow.start(type, options);
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) throw new AlreadyRunningError(workflowId, what, { cause: err });
      throw err;
    }
  }

  private async resultOf<R>(handle: WorkflowHandle): Promise<R> {
    try {
      return (await handle.result()) as R;
    } catch (err) {
      throw explainFailure(handle.workflowId, err);
    }
  }

  /** The input as the workflow gets it: this client's task-queue prefix unless the input names one. */
  private withPrefix<I extends { taskQueuePrefix?: string }>(input: I): I & { taskQueuePrefix: string } {
    return { ...input, taskQueuePrefix: input.taskQueuePrefix ?? this.taskQueuePrefix };
  }

  /**
   * Starts a workflow that dumps `pid` on `host` (checkpoint, migrate) under the input's
   * checkpoint id, or a new one: chosen here so that the memo can name it for `status`.
   */
  private startDump<K extends 'checkpoint' | 'migrate'>(
    type: K,
    workflowId: string,
    what: string,
    input: FerryWorkflowInput<K>,
    host: string,
  ): Promise<WorkflowHandleWithFirstExecutionRunId<FerryWorkflows[K]>> {
    const checkpointId = input.checkpointId ?? newCheckpointId(host, input.pid);
    return this.start(type, workflowId, what, this.withPrefix({ ...input, checkpointId }), { checkpointId, host, pid: input.pid });
  }

  startCheckpoint(input: CheckpointInput): Promise<WorkflowHandleWithFirstExecutionRunId<typeof checkpoint>> {
    const what = `a checkpoint of pid ${input.pid} on ${input.host}`;
    return this.startDump(WORKFLOW_TYPES.checkpoint, processWorkflowId(input.host, input.pid), what, input, input.host);
  }

  async checkpoint(input: CheckpointInput): Promise<CheckpointResult> {
    return this.resultOf(await this.startCheckpoint(input));
  }

  startRestore(input: RestoreInput): Promise<WorkflowHandleWithFirstExecutionRunId<typeof restore>> {
    return this.start(WORKFLOW_TYPES.restore, restoreWorkflowId(input.host, input.checkpointId), `a restore of ${input.checkpointId} on ${input.host}`, this.withPrefix(input), {
      checkpointId: input.checkpointId,
      host: input.host,
    });
  }

  async restore(input: RestoreInput): Promise<RestoreResult> {
    return this.resultOf(await this.startRestore(input));
  }

  startMigrate(input: MigrateInput): Promise<WorkflowHandleWithFirstExecutionRunId<typeof migrate>> {
    const what = `a migration of pid ${input.pid} from ${input.from}`;
    return this.startDump(WORKFLOW_TYPES.migrate, migrateWorkflowId(input.from, input.pid), what, input, input.from);
  }

  async migrate(input: MigrateInput): Promise<MigrateResult> {
    return this.resultOf(await this.startMigrate(input));
  }

  /**
   * Starts `type` under `workflowId` at most once: a running workflow of that id is used as it is
   * (conflict policy USE_EXISTING), and a finished one is never started again (reuse policy
   * REJECT_DUPLICATE). For event-driven starts, whose ids say which event they answer
   * (src/triggers/event-ids.ts). `started` is false when the workflow already existed.
   */
  async startOnce<K extends 'checkpoint' | 'migrate'>(
    type: K,
    workflowId: string,
    input: FerryWorkflowInput<K>,
    memo: Record<string, unknown>,
  ): Promise<{ workflowId: string; runId: string; started: boolean }> {
    const options: WorkflowStartOptions<(input: FerryWorkflowInput<K>) => ReturnType<FerryWorkflows[K]>> = {
      taskQueue: this.workflowQueue,
      workflowId,
      args: [this.withPrefix(input)],
      memo,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    };
    try {
      const handle = await this.client.workflow.start(type, options);
      // With USE_EXISTING the server answers a running workflow's run id without starting one.
      const desc = await handle.describe();
      const started = (desc.memo as Record<string, unknown> | undefined)?.startRequest === memo.startRequest;
      return { workflowId, runId: handle.firstExecutionRunId, started };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const desc = await this.client.workflow.getHandle(workflowId).describe();
      return { workflowId, runId: desc.runId, started: false };
    }
  }

  /** The id of a ferry workflow dumping `pid` on `host` right now, or null: the per-process ids, then those whose ids start with `idPrefix`. */
  async runningDumpOf(host: string, pid: number, idPrefix: string): Promise<string | null> {
    for (const id of [processWorkflowId(host, pid), migrateWorkflowId(host, pid)]) {
      try {
        const desc = await this.client.workflow.getHandle(id).describe();
        if (desc.status.name === 'RUNNING') return id;
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    }
    const query = `ExecutionStatus = 'Running' AND WorkflowType IN ('${WORKFLOW_TYPES.checkpoint}', '${WORKFLOW_TYPES.migrate}')`;
    let seen = 0;
    for await (const wf of this.client.workflow.list({ query })) {
      if (wf.workflowId.startsWith(idPrefix)) return wf.workflowId;
      if (++seen >= 1000) break;
    }
    return null;
  }

  /** Waits for any ferry workflow's result, as a WorkflowRunFailedError when it failed. */
  async result<R>(workflowId: string): Promise<R> {
    return this.resultOf<R>(this.client.workflow.getHandle(workflowId));
  }

  /** Asks a running checkpoint or migration to stop pre-dumping and take the final dump now. */
  async dumpNow(workflowId: string): Promise<void> {
    await this.client.workflow.getHandle(workflowId).signal(DUMP_NOW_SIGNAL);
  }

  async progress<P = unknown>(workflowId: string): Promise<P> {
    return this.client.workflow.getHandle(workflowId).query<P>(PROGRESS_QUERY);
  }

  /** Cancels a workflow: the process keeps running (before the final dump) and staging is cleaned. */
  async cancel(workflowId: string): Promise<void> {
    await this.client.workflow.getHandle(workflowId).cancel();
  }

  /** Status by workflow id, or else by checkpoint id (the latest ferry workflow that used it). */
  async statusOf(id: string): Promise<WorkflowStatus> {
    try {
      return await this.status(id);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    let seen = 0;
    const query = `WorkflowType IN ('${WORKFLOW_TYPES.checkpoint}', '${WORKFLOW_TYPES.migrate}', '${WORKFLOW_TYPES.restore}')`;
    for await (const wf of this.client.workflow.list({ query })) {
      if (wf.memo?.checkpointId === id) return this.status(wf.workflowId, wf.runId);
      if (++seen >= 1000) break;
    }
    throw new NotFoundError(id);
  }

  async status(workflowId: string, runId?: string): Promise<WorkflowStatus> {
    const handle = this.client.workflow.getHandle(workflowId, runId);
    let desc;
    try {
      desc = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new NotFoundError(workflowId);
      throw err;
    }
    const status: WorkflowStatus = {
      workflowId,
      runId: desc.runId,
      type: desc.type,
      status: desc.status.name,
      startTime: desc.startTime.toISOString(),
      closeTime: desc.closeTime ? desc.closeTime.toISOString() : null,
      url: this.workflowUrl(workflowId, desc.runId),
      progress: null,
      result: null,
      failure: null,
    };
    if (desc.status.name === 'RUNNING') {
      status.progress = await handle.query(PROGRESS_QUERY).catch(() => null);
    } else if (desc.status.name === 'COMPLETED') {
      status.result = await handle.result();
    } else if (desc.status.name === 'FAILED') {
      const err = await handle.result().then(
        () => null,
        (e: unknown) => explainFailure(workflowId, e),
      );
      if (err instanceof WorkflowRunFailedError) status.failure = { type: err.failureType, message: err.detail };
    }
    return status;
  }

  // ---- nightly pre-dump schedules ----

  async createWarmSchedule(options: WarmScheduleOptions): Promise<void> {
    // The run records its schedule in the warm chain's manifest: gc keeps the chain while it exists.
    const input = { ...this.withPrefix(options.input), scheduleId: options.scheduleId };
    await this.client.schedule.create({
      scheduleId: options.scheduleId,
      spec: { cronExpressions: [options.cron], ...(options.timeZone ? { timezone: options.timeZone } : {}) },
      action: {
        type: 'startWorkflow',
        workflowType: WORKFLOW_TYPES.warmPreDump,
        taskQueue: this.workflowQueue,
        workflowId: scheduleWorkflowId(options.scheduleId),
        args: [input] satisfies [FerryWorkflowInput<'warmPreDump'>],
      },
      // SKIP: a run still going when the next is due is never doubled up on the same process.
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
      // The server turns cron into calendar specs; keep the text the user gave for `show`.
      memo: { cron: options.cron },
      state: { note: options.note ?? `ferry warm pre-dumps of ${input.pid ?? input.pidFile} on ${input.host}` },
    });
  }

  async listSchedules(): Promise<ScheduleSummary[]> {
    const out: ScheduleSummary[] = [];
    for await (const s of this.client.schedule.list()) out.push(s);
    return out;
  }

  describeSchedule(scheduleId: string): Promise<ScheduleDescription> {
    return this.onSchedule(scheduleId, (h) => h.describe());
  }

  /** Runs `fn` on a schedule's handle, turning "not found" (however the server says it) into NoSuchScheduleError. */
  private async onSchedule<T>(scheduleId: string, fn: (h: ReturnType<Client['schedule']['getHandle']>) => Promise<T>): Promise<T> {
    try {
      return await fn(this.client.schedule.getHandle(scheduleId));
    } catch (err) {
      const grpcNotFound = isGrpcServiceError(err) && err.code === 5; // grpc NOT_FOUND
      const causeNotFound = isGrpcServiceError((err as { cause?: unknown } | null)?.cause) && ((err as { cause: { code: number } }).cause.code === 5);
      if (err instanceof ScheduleNotFoundError || grpcNotFound || causeNotFound) throw new NoSuchScheduleError(scheduleId, { cause: err });
      throw err;
    }
  }

  async triggerSchedule(scheduleId: string): Promise<void> {
    // ALLOW_ALL for the manual run is not used: the process lock still refuses a real overlap.
    await this.onSchedule(scheduleId, (h) => h.trigger(ScheduleOverlapPolicy.SKIP));
  }

  async pauseSchedule(scheduleId: string, note?: string): Promise<void> {
    await this.onSchedule(scheduleId, (h) => h.pause(note));
  }

  async unpauseSchedule(scheduleId: string, note?: string): Promise<void> {
    await this.onSchedule(scheduleId, (h) => h.unpause(note));
  }

  async deleteSchedule(scheduleId: string): Promise<void> {
    await this.onSchedule(scheduleId, (h) => h.delete());
  }
}
