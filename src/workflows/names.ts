/**
 * Names that live in workflow histories and in other programs' code: task queues, workflow ids,
 * failure types, query and signal names. Pure functions only, so workflows, the client and the
 * worker all agree on them. Changing any of these is a breaking change for running workflows.
 */

/** Queue that runs ferry's workflow code (any worker may poll it). */
export function workflowTaskQueue(prefix: string): string {
  return `${prefix}-workflows`;
}

/** Queue of one host's activities: CRIU must run where the process is, so each host has its own. */
export function hostTaskQueue(prefix: string, host: string): string {
  return `${prefix}-host-${host}`;
}

/** Host names become task-queue names and directory names: keep them to a safe alphabet. */
export const HOST_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function isValidHostName(host: unknown): host is string {
  return typeof host === 'string' && HOST_NAME_PATTERN.test(host) && !host.includes('..');
}

/**
 * The one id under which anything that dumps process `pid` on `host` runs (a checkpoint, the
 * checkpoint inside a migration, a warm pre-dump step). Temporal refuses a second running workflow
 * with the same id, which is what makes two dumps of one process at once impossible.
 */
export function processWorkflowId(host: string, pid: number): string {
  return `ferry-process-${host}-${pid}`;
}

export function restoreWorkflowId(host: string, checkpointId: string): string {
  return `ferry-restore-${host}-${checkpointId}`;
}

export function migrateWorkflowId(from: string, pid: number): string {
  return `ferry-migrate-${from}-${pid}`;
}

/** Workflow id given to runs of a nightly pre-dump schedule (Temporal appends the run's time). */
export function scheduleWorkflowId(scheduleId: string): string {
  return `ferry-warm-${scheduleId}`;
}

/** Registered workflow type names (the exported function names in ./index). */
export const WORKFLOW_TYPES = {
  checkpoint: 'checkpoint',
  restore: 'restore',
  migrate: 'migrate',
  warmPreDump: 'warmPreDump',
  addWarmLayer: 'addWarmLayer',
} as const;

export const PROGRESS_QUERY = 'progress';
export const DUMP_NOW_SIGNAL = 'dumpNow';
/** Checkpoint -> its parent: the pre-dump layers are stored (manifest committed as incomplete). */
export const LAYERS_STORED_SIGNAL = 'layersStored';
/** Parent -> checkpoint: done fetching the stored layers; take the final dump now. */
export const PREFETCHED_SIGNAL = 'prefetched';

/** Workflow patch ids (`patched()`): histories of runs started before a change replay the old path. */
export const PATCHES = {
  migratePrefetch: 'migrate-prefetch-stored-layers',
} as const;

/**
 * Stable `type`s of the failures ferry's workflows and activities raise. Callers branch on these,
 * never on message text. Activity-level types come from the CRIU and storage error kinds.
 */
export const FAILURE_TYPES = {
  invalidInput: 'InvalidInput',
  hostUnavailable: 'HostUnavailable',
  preDumpsUnavailable: 'PreDumpsUnavailable',
  checkpointInProgress: 'CheckpointInProgress',
  migrationFailed: 'MigrationFailed',
  checkpointFailed: 'CheckpointFailed',
  // CRIU (see activities/failures.ts)
  noSuchProcess: 'NoSuchProcess',
  notPermitted: 'NotPermitted',
  kernelFeatureMissing: 'KernelFeatureMissing',
  parentImagesInvalid: 'ParentImagesInvalid',
  imagesDirNotEmpty: 'ImagesDirNotEmpty',
  imagesInvalid: 'ImagesInvalid',
  criuUnavailable: 'CriuUnavailable',
  processChanged: 'ProcessChanged',
  refusedTarget: 'RefusedTarget',
  criuFailed: 'CriuFailed',
  // Host policy (src/policy): the host refuses this process or images dir, whatever the request says.
  policyRefused: 'PolicyRefused',
} as const;

/**
 * Failure types no retry can fix without a human changing something. The activities layer already
 * raises them as non-retryable; the workflows' retry policies list them too, so that a failure of
 * one of these types is never retried even if it arrives without the nonRetryable flag.
 */
export const PERMANENT_FAILURE_TYPES: readonly string[] = [
  FAILURE_TYPES.invalidInput,
  FAILURE_TYPES.noSuchProcess,
  FAILURE_TYPES.notPermitted,
  FAILURE_TYPES.kernelFeatureMissing,
  FAILURE_TYPES.parentImagesInvalid,
  FAILURE_TYPES.imagesDirNotEmpty,
  FAILURE_TYPES.imagesInvalid,
  FAILURE_TYPES.criuUnavailable,
  FAILURE_TYPES.processChanged,
  FAILURE_TYPES.refusedTarget,
  FAILURE_TYPES.policyRefused,
];
