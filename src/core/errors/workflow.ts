/**
 * Failures the workflows raise themselves (src/workflows): bad input, a host nobody serves, a
 * policy that cannot be met, and the two outcomes after the process was stopped (rolled back).
 * Workflows send them as ApplicationFailures of type `failureType` (see workflows/failures.ts).
 */
import { failureKind, type FerryErrorOptions } from '../ferry-error';
import { hostTaskQueue } from '../names';

/** The workflow input breaks a rule (see ../ids.ts); nothing was done. */
export class InvalidInput extends failureKind('invalid-input', { retryable: false }) {
}

/** No worker polled the host's task queue in time: the host is down or not set up. */
export class HostUnavailable extends failureKind('host-unavailable', { retryable: false }) {
  constructor(readonly host: string, taskQueuePrefix: string, options?: FerryErrorOptions) {
    super(
      `no ferry worker picked up work for host ${JSON.stringify(host)} (task queue ${hostTaskQueue(taskQueuePrefix, host)}) ` +
        `within 60 s; start one on that host with \`ferry worker --host ${host}\``,
      options,
    );
  }
}

/** The convergence policy demands pre-dumps and the host's kernel cannot track dirty memory. */
export class PreDumpsUnavailable extends failureKind('pre-dumps-unavailable', { retryable: false }) {
  constructor(readonly host: string, readonly kernel: string) {
    super(
      `the policy requires pre-dumps, but the kernel of host ${host} (${kernel}) cannot track dirty memory ` +
        '(no soft-dirty, CONFIG_MEM_SOFT_DIRTY); nothing was dumped and the process keeps running. ' +
        'Run on a kernel with soft-dirty, or drop requirePreDumps to take a single full dump',
    );
  }
}

/** Another workflow already dumps this process (Temporal refused a second one under its id). */
export class CheckpointInProgress extends failureKind('checkpoint-in-progress', { retryable: false }) {
  constructor(readonly pid: number, readonly host: string, readonly workflowId: string) {
    super(`pid ${pid} on host ${host} is already being checkpointed (workflow ${workflowId}); wait for it or cancel it, then retry`);
  }
}

/** Storing the final dump failed after it stopped the process; the process was restored where it was. */
export class CheckpointFailed extends failureKind('checkpoint-failed', { retryable: false }) {
  constructor(
    readonly checkpointId: string,
    readonly pid: number,
    readonly host: string,
    readonly problem: string,
    readonly restoredPid: number,
    options?: FerryErrorOptions,
  ) {
    super(
      `checkpoint ${checkpointId} of pid ${pid} on host ${host} failed after the final dump ` +
        `(${problem}); the process was restored on ${host} from the local images as pid ${restoredPid}, ` +
        'and the partial checkpoint was deleted',
      options,
    );
  }
}

/** The target could not restore the migrated process; it was restored on the source instead. */
export class MigrationFailed extends failureKind('migration-failed', { retryable: false }) {
  constructor(
    readonly checkpointId: string,
    readonly pid: number,
    readonly from: string,
    readonly to: string,
    readonly problem: string,
    readonly restoredPid: number,
    options?: FerryErrorOptions,
  ) {
    super(
      `migrating pid ${pid} from ${from} to ${to} failed on ${to} (${problem}); the process was ` +
        `restored on ${from} as pid ${restoredPid}. Checkpoint ${checkpointId} stays stored; fix ${to} and run ` +
        `\`ferry restore-checkpoint ${checkpointId} --host ${to}\` or migrate again`,
      options,
    );
  }
}

/**
 * A direct migration restored the process on the target, and storing the checkpoint afterwards
 * failed: the process runs (nothing is lost) but no stored copy of it was made.
 */
export class MigratedNotStored extends failureKind('migrated-not-stored', { retryable: false }) {
  constructor(
    readonly checkpointId: string,
    readonly pid: number,
    readonly to: string,
    readonly newPid: number,
    readonly problem: string,
    options?: FerryErrorOptions,
  ) {
    super(
      `pid ${pid} now runs on ${to} as pid ${newPid}, but storing its checkpoint ${checkpointId} afterwards failed (${problem}); ` +
        `the process is not lost, it just has no stored copy: checkpoint it on ${to} when the store is back`,
      options,
    );
  }
}

/** Where a failed post-copy migration left the process. */
export type PostCopyOutcome = 'not-started' | 'resumed-on-source' | 'broke-after-running' | 'lost';

const POST_COPY_LEFT: Record<PostCopyOutcome, (from: string, to: string) => string> = {
  'not-started': (from) => `nothing was dumped: the process keeps running on ${from}`,
  'resumed-on-source': (from, to) => `the process had not run on ${to}; CRIU resumed it on ${from}, where it keeps running`,
  'broke-after-running': (from, to) =>
    `the process had already run on ${to}; its copy there was killed (it lacked memory that never came), and CRIU resumed the process on ${from} ` +
    `from its state at the freeze: whatever it did on ${to} since is lost`,
  lost: (from, to) =>
    `the process had already run on ${to} and its memory was still partly on ${from}, which no longer serves it: the process is lost; ` +
    'restore it from your last stored checkpoint (`ferry list`)',
};

/** A post-copy migration (lazy) failed; the message says where the process is now. */
export class PostCopyFailed extends failureKind('post-copy-failed', { retryable: false }) {
  constructor(
    readonly pid: number,
    readonly from: string,
    readonly to: string,
    readonly problem: string,
    readonly outcome: PostCopyOutcome,
    options?: FerryErrorOptions,
  ) {
    super(`post-copy migration of pid ${pid} from ${from} to ${to} failed (${problem}); ${POST_COPY_LEFT[outcome](from, to)}`, options);
  }
}

export const WORKFLOW_ERRORS = [InvalidInput, HostUnavailable, PreDumpsUnavailable, CheckpointInProgress, CheckpointFailed, MigrationFailed, MigratedNotStored, PostCopyFailed] as const;
