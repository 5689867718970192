/**
 * ferry as a library: the typed client that starts checkpoints, restores and migrations, and the
 * JSON shapes of the workflows' inputs and results (documented in docs/workflows.md).
 */
export {
  FerryClient,
  explainFailure,
  newCheckpointId,
  type FerryClientOptions,
  type WarmScheduleOptions,
  type WorkflowStatus,
  AlreadyRunningError,
  NotFoundError,
  TemporalUnavailableError,
  WorkflowRunFailedError,
} from './client';
export type * from './workflows/types';
export { DEFAULT_POLICY, decide, type ConvergencePolicy, type Decision, type StopReason } from './workflows/convergence-policy';
export {
  FerryError,
  isError,
  failureTypeOf,
  FAILURE_TYPES,
  WORKFLOW_TYPES,
  PROGRESS_QUERY,
  DUMP_NOW_SIGNAL,
  hostTaskQueue,
  workflowTaskQueue,
  processWorkflowId,
  migrateWorkflowId,
  restoreWorkflowId,
} from './core';
export { loadConfig, type FerryConfig } from './config/config';
