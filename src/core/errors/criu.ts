/**
 * Failures of the CRIU layer (src/criu): one class per kind a caller can act on. Each message says
 * what happened, to what, and what to do next. Kind and retryability are declared on the class
 * (see ../ferry-error.ts); 'criu-failed' and 'pid-in-use' may be transient, the rest need a person.
 */
import { failureKind, type FerryErrorOptions } from '../ferry-error';

/** CRIU request types as the RPC protocol names them (criu_req_type). */
export type CriuRequestName =
  | 'VERSION'
  | 'FEATURE_CHECK'
  | 'SINGLE_PRE_DUMP'
  | 'DUMP'
  | 'RESTORE'
  | 'PAGE_SERVER'
  | 'PAGE_SERVER_CHLD'
  | 'WAIT_PID';

/** The target pid does not exist (or exited while ferry was looking at it). */
export class NoSuchProcessError extends failureKind('no-such-process', { retryable: false }) {
  constructor(readonly pid: number, options?: FerryErrorOptions & { during?: string }) {
    super(
      `no process with pid ${pid}${options?.during ? ` (${options.during})` : ''}: ` +
        'check the pid (ps -p PID) and that the process is still running',
      options,
    );
  }
}

/** The kernel or CRIU refused for lack of privilege (CRIU needs root or CAP_CHECKPOINT_RESTORE + CAP_SYS_PTRACE). */
export class NotPermittedError extends failureKind('not-permitted', { retryable: false }) {
  constructor(readonly operation: string, readonly detail: string, options?: FerryErrorOptions) {
    super(
      `${operation}: not permitted (${detail}); run ferry as root, or give the criu binary ` +
        'CAP_CHECKPOINT_RESTORE and CAP_SYS_PTRACE',
      options,
    );
  }
}

/** A kernel feature the step needs is missing: soft-dirty tracking for pre-dumps, userfaultfd for lazy pages. */
export class KernelFeatureMissingError extends failureKind('kernel-feature-missing', { retryable: false }) {
  constructor(
    readonly feature: 'mem_track' | 'lazy_pages',
    /** The step that needed it: a pre-dump, a dump on top of a pre-dump, or a lazy dump or restore. */
    readonly step: 'pre-dump' | 'incremental dump' | 'lazy dump' | 'lazy restore' = 'pre-dump',
    options?: FerryErrorOptions,
  ) {
    super(
      feature === 'mem_track'
        ? `${step} refused: this kernel has no soft-dirty memory tracking (CONFIG_MEM_SOFT_DIRTY is ` +
            'not set; CRIU feature check reports mem_track=false), so incremental pre-dumps cannot ' +
            'work here. The process was not touched. Use a single full dump instead ' +
            '(`ferry dump --pid PID --images-dir DIR`, optionally --leave-running), or run on a ' +
            'kernel built with CONFIG_MEM_SOFT_DIRTY=y (most x86_64 distribution kernels are)'
        : `${step} refused: CRIU cannot use userfaultfd here (CRIU feature check reports ` +
            'lazy_pages=false: the kernel lacks CONFIG_USERFAULTFD or non-cooperative userfaultfd, or ' +
            'vm.unprivileged_userfaultfd forbids it). Nothing was touched. Leave out --lazy-pages: ' +
            'every page is then copied before the process runs',
      options,
    );
  }
}

/** --prev-images-dir (or a layer's `parent` link) does not name a usable parent layer. */
export class ParentImagesInvalidError extends failureKind('parent-images-invalid', { retryable: false }) {
  constructor(readonly dir: string, readonly problem: string, options?: FerryErrorOptions) {
    super(`parent images ${dir} are not usable: ${problem}`, options);
  }
}

/** The images dir for a new layer already holds files: CRIU would mix two layers. */
export class ImagesDirNotEmptyError extends failureKind('images-dir-not-empty', { retryable: false }) {
  constructor(readonly dir: string, readonly entries: string[], options?: FerryErrorOptions) {
    super(
      `images dir ${dir} is not empty (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''}); ` +
        'give a new or empty directory for each layer',
      options,
    );
  }
}

/** An image file (or a whole images dir) is missing, truncated or not what its name says. */
export class ImagesInvalidError extends failureKind('images-invalid', { retryable: false }) {
  constructor(readonly file: string, readonly problem: string, options?: FerryErrorOptions & { isDir?: boolean }) {
    super(`CRIU ${options?.isDir ? 'images dir' : 'image'} ${file} cannot be read: ${problem}`, options);
  }
}

/** CRIU is not installed, not executable, too old, or its worker died before answering. */
export class CriuUnavailableError extends failureKind('criu-unavailable', { retryable: false }) {
  constructor(readonly binary: string, readonly problem: string, options?: FerryErrorOptions) {
    super(
      `CRIU (${binary}) is not usable: ${problem}. Install CRIU >= 4.1 (make system-deps) or point ` +
        'FERRY_CRIU at a working binary',
      options,
    );
  }
}

/** The pid now belongs to a different process than the one recorded at the chain's first step. */
export class ProcessChangedError extends failureKind('process-changed', { retryable: false }) {
  constructor(
    readonly pid: number,
    readonly expected: { startTime: number; bootId: string; comm: string },
    readonly actual: { startTime: number; bootId: string; comm: string },
    options?: FerryErrorOptions,
  ) {
    super(
      `pid ${pid} is no longer the process this chain started with ` +
        `(expected ${expected.comm} started at tick ${expected.startTime}, found ${actual.comm} ` +
        `started at tick ${actual.startTime}${expected.bootId !== actual.bootId ? ', after a reboot' : ''}); ` +
        'the pid was recycled. Start a new chain for the new process',
      options,
    );
  }
}

/** ferry will not checkpoint this target at all: pid 1, a kernel thread, or ferry's own process tree. */
export class RefusedTargetError extends failureKind('refused-target', { retryable: false }) {
  constructor(readonly pid: number, readonly reason: 'init' | 'kernel-thread' | 'own-tree', options?: FerryErrorOptions) {
    const why = {
      init: 'it is pid 1 (init); checkpointing it would freeze the whole system',
      'kernel-thread': 'it is a kernel thread, which CRIU cannot checkpoint',
      'own-tree': 'it is ferry itself, one of its ancestors or one of its children; ' +
        'freezing it would freeze ferry. Start the target outside ferry (e.g. daemonized or from another shell)',
    }[reason];
    super(`refusing to checkpoint pid ${pid}: ${why}`, options);
  }
}

/** Restore needs a pid that another process (often a zombie of the dumped task) still holds. */
export class PidInUseError extends failureKind('pid-in-use', { retryable: true }) {
  constructor(
    readonly pid: number,
    readonly holder: { comm: string; state: string; ppid: number },
    readonly waitedMs: number,
    options?: FerryErrorOptions,
  ) {
    const zombie = holder.state === 'Z';
    super(
      `cannot restore pid ${pid}: it is still held by ${zombie ? 'a zombie ' : ''}process ` +
        `${holder.comm} (state ${holder.state}, parent ${holder.ppid}) after waiting ${waitedMs} ms; ` +
        (zombie
          ? `its parent (pid ${holder.ppid}) has not reaped it: make the parent wait() for it or exit, then retry`
          : 'stop that process (or wait until it exits), then retry'),
      options,
    );
  }
}

/** CRIU answered a request with failure for a reason none of the kinds above describes. */
export class CriuFailedError extends failureKind('criu-failed', { retryable: true }) {
  constructor(
    readonly request: CriuRequestName,
    readonly errno: number | null,
    /** CRIU's own log for this request: the first error naming a known cause, then the last error lines. */
    readonly logTail: string[],
    readonly logFile: string | null,
    readonly summary: string,
    options?: FerryErrorOptions & { mainCause?: string },
  ) {
    const line = options?.mainCause ?? logTail[logTail.length - 1];
    const cause = line ? `: ${line}` : '';
    const where = logFile ? ` (full log: ${logFile})` : '';
    const errnoText = errno ? ` errno ${errno}` : '';
    super(`CRIU ${request} failed${errnoText}${cause}${where}. ${summary}`, options);
  }
}

/**
 * The `criu lazy-pages` daemon of a lazy restore failed: the restore did not start, or the
 * restored process did not get all of its memory (it then dies at its next touch of a missing page).
 */
export class LazyPagesFailedError extends failureKind('lazy-pages-failed', { retryable: false }) {
  constructor(
    readonly imagesDir: string,
    /** The restored pid, when RESTORE had already answered. */
    readonly pid: number | null,
    readonly problem: string,
    readonly logFile: string | null,
    readonly hint: string,
    options?: FerryErrorOptions,
  ) {
    super(
      `lazy restore of ${imagesDir} failed${pid !== null ? ` after pid ${pid} was restored (it cannot run without its missing pages)` : ''}: ` +
        `${problem}${logFile ? ` (full log: ${logFile})` : ''}. ${hint}`,
      options,
    );
  }
}

/** Every CRIU-layer error class, for the failure catalogue (./index.ts). */
export const CRIU_ERRORS = [
  NoSuchProcessError,
  NotPermittedError,
  KernelFeatureMissingError,
  ParentImagesInvalidError,
  ImagesDirNotEmptyError,
  ImagesInvalidError,
  CriuUnavailableError,
  ProcessChangedError,
  RefusedTargetError,
  PidInUseError,
  CriuFailedError,
  LazyPagesFailedError,
] as const;
