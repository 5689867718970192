/**
 * Names that live in workflow histories and in other programs' code: task queues, workflow ids,
 * workflow types, query and signal names, patch ids. Pure, so workflows, the client and the worker
 * all agree on them. Changing any of these is a breaking change for running workflows.
 */

/** Queue that runs ferry's workflow code (any worker may poll it). */
export function workflowTaskQueue(prefix: string): string {
  return `${prefix}-workflows`;
}

/** Queue of one host's activities: CRIU must run where the process is, so each host has its own. */
export function hostTaskQueue(prefix: string, host: string): string {
  return `${prefix}-host-${host}`;
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
/** Checkpoint -> its parent: the final dump is taken; these local layers may go to the target directly. */
export const FINAL_LAYERS_SIGNAL = 'finalLayersReady';
/** Parent -> checkpoint: the direct hand-off is over (the process runs on the target, or not); store now. */
export const HANDED_OFF_SIGNAL = 'handedOff';

/** Workflow patch ids (`patched()`): histories of runs started before a change replay the old path. */
export const PATCHES = {
  migratePrefetch: 'migrate-prefetch-stored-layers',
  /** Size check before pre-dumps, catch-up rounds after the stored layers moved, decisions recorded. */
  convergeOnTransfer: 'checkpoint-converge-on-transfer',
  /** A checkpoint id chosen by the caller is refused when something is stored under it. */
  checkpointIdFree: 'checkpoint-id-must-be-free',
  /** The chosen checkpoint id is also claimed (a conditional write), not only checked. */
  checkpointIdClaim: 'checkpoint-id-claimed',
  /** migrate sends the final layers straight to the target's worker, and stores them after the restore. */
  migrateDirect: 'migrate-direct-final-layers',
  /** migrate with lazy: true restores on the target first and moves the memory after (post-copy). */
  migrateLazy: 'migrate-lazy',
} as const;

/** The risk of a post-copy migration, said the same way in --help, the docs and the result. */
export const POST_COPY_RISK =
  'post-copy: the process ran on the target before all its memory had arrived; until the last page came, ' +
  'its memory was split between the two hosts, and a failure of the source host (or of the link) in that ' +
  'time would have lost the process';
