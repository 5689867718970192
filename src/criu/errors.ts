/**
 * Typed failures of the CRIU layer. One class per kind a caller can act on; each message says what
 * happened, to what, and what to do next. Guards check `name` as well as `instanceof`, because
 * instanceof breaks across the Temporal workflow sandbox and Jest module registries.
 *
 * `criuErrorKind(err)` gives a stable string per kind, so the activities layer can map kinds to
 * non-retryable failure types without depending on classes or message text.
 */

/** CRIU request types as the RPC protocol names them (criu_req_type). */
export type CriuRequestName =
  | 'VERSION'
  | 'FEATURE_CHECK'
  | 'SINGLE_PRE_DUMP'
  | 'DUMP'
  | 'RESTORE'
  | 'PAGE_SERVER';

export type CriuErrorKind =
  | 'no-such-process'
  | 'not-permitted'
  | 'kernel-feature-missing'
  | 'parent-images-invalid'
  | 'images-dir-not-empty'
  | 'images-invalid'
  | 'criu-unavailable'
  | 'process-changed'
  | 'refused-target'
  | 'pid-in-use'
  | 'criu-failed'
  /** The host policy (src/policy) refused the request; the class is PolicyRefused in policy/errors.ts. */
  | 'policy-refused';

interface ErrorOptions {
  cause?: unknown;
}

abstract class CriuError extends Error {
  abstract readonly kind: CriuErrorKind;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** The target pid does not exist (or exited while ferry was looking at it). */
export class NoSuchProcessError extends CriuError {
  override readonly name = 'NoSuchProcessError';
  readonly kind = 'no-such-process';
  constructor(
    readonly pid: number,
    options?: ErrorOptions & { during?: string },
  ) {
    super(
      `no process with pid ${pid}${options?.during ? ` (${options.during})` : ''}: ` +
        'check the pid (ps -p PID) and that the process is still running',
      options,
    );
  }
}

/** The kernel or CRIU refused for lack of privilege (CRIU needs root or CAP_CHECKPOINT_RESTORE + CAP_SYS_PTRACE). */
export class NotPermittedError extends CriuError {
  override readonly name = 'NotPermittedError';
  readonly kind = 'not-permitted';
  constructor(
    readonly operation: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(
      `${operation}: not permitted (${detail}); run ferry as root, or give the criu binary ` +
        'CAP_CHECKPOINT_RESTORE and CAP_SYS_PTRACE',
      options,
    );
  }
}

/** A kernel feature the step needs is missing; today that is soft-dirty tracking for pre-dumps. */
export class KernelFeatureMissingError extends CriuError {
  override readonly name = 'KernelFeatureMissingError';
  readonly kind = 'kernel-feature-missing';
  constructor(
    readonly feature: 'mem_track',
    /** The step that needed it: a pre-dump, or a dump on top of a pre-dump. */
    readonly step: 'pre-dump' | 'incremental dump' = 'pre-dump',
    options?: ErrorOptions,
  ) {
    super(
      `${step} refused: this kernel has no soft-dirty memory tracking (CONFIG_MEM_SOFT_DIRTY is ` +
        'not set; CRIU feature check reports mem_track=false), so incremental pre-dumps cannot ' +
        'work here. The process was not touched. Use a single full dump instead ' +
        '(`ferry dump --pid PID --images-dir DIR`, optionally --leave-running), or run on a ' +
        'kernel built with CONFIG_MEM_SOFT_DIRTY=y (most x86_64 distribution kernels are)',
      options,
    );
  }
}

/** --prev-images-dir (or a layer's `parent` link) does not name a usable parent layer. */
export class ParentImagesInvalidError extends CriuError {
  override readonly name = 'ParentImagesInvalidError';
  readonly kind = 'parent-images-invalid';
  constructor(
    readonly dir: string,
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super(`parent images ${dir} are not usable: ${problem}`, options);
  }
}

/** The images dir for a new layer already holds files: CRIU would mix two layers. */
export class ImagesDirNotEmptyError extends CriuError {
  override readonly name = 'ImagesDirNotEmptyError';
  readonly kind = 'images-dir-not-empty';
  constructor(
    readonly dir: string,
    readonly entries: string[],
    options?: ErrorOptions,
  ) {
    super(
      `images dir ${dir} is not empty (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''}); ` +
        'give a new or empty directory for each layer',
      options,
    );
  }
}

/** An image file is missing, truncated or not what its name says. */
export class ImagesInvalidError extends CriuError {
  override readonly name = 'ImagesInvalidError';
  readonly kind = 'images-invalid';
  constructor(
    readonly file: string,
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super(`CRIU image ${file} cannot be read: ${problem}`, options);
  }
}

/** CRIU is not installed, not executable, too old, or its worker died before answering. */
export class CriuUnavailableError extends CriuError {
  override readonly name = 'CriuUnavailableError';
  readonly kind = 'criu-unavailable';
  constructor(
    readonly binary: string,
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super(
      `CRIU (${binary}) is not usable: ${problem}. Install CRIU >= 4.1 (make system-deps) or point ` +
        'FERRY_CRIU at a working binary',
      options,
    );
  }
}

/** The pid now belongs to a different process than the one recorded at the chain's first step. */
export class ProcessChangedError extends CriuError {
  override readonly name = 'ProcessChangedError';
  readonly kind = 'process-changed';
  constructor(
    readonly pid: number,
    readonly expected: { startTime: number; bootId: string; comm: string },
    readonly actual: { startTime: number; bootId: string; comm: string },
    options?: ErrorOptions,
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
export class RefusedTargetError extends CriuError {
  override readonly name = 'RefusedTargetError';
  readonly kind = 'refused-target';
  constructor(
    readonly pid: number,
    readonly reason: 'init' | 'kernel-thread' | 'own-tree',
    options?: ErrorOptions,
  ) {
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
export class PidInUseError extends CriuError {
  override readonly name = 'PidInUseError';
  readonly kind = 'pid-in-use';
  constructor(
    readonly pid: number,
    readonly holder: { comm: string; state: string; ppid: number },
    readonly waitedMs: number,
    options?: ErrorOptions,
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
export class CriuFailedError extends CriuError {
  override readonly name = 'CriuFailedError';
  readonly kind = 'criu-failed';
  constructor(
    readonly request: CriuRequestName,
    readonly errno: number | null,
    /** CRIU's own log for this request: the first error naming a known cause, then the last error lines. */
    readonly logTail: string[],
    readonly logFile: string | null,
    readonly summary: string,
    options?: ErrorOptions & { mainCause?: string },
  ) {
    const line = options?.mainCause ?? logTail[logTail.length - 1];
    const cause = line ? `: ${line}` : '';
    const where = logFile ? ` (full log: ${logFile})` : '';
    const errnoText = errno ? ` errno ${errno}` : '';
    super(`CRIU ${request} failed${errnoText}${cause}${where}. ${summary}`, options);
  }
}

export type AnyCriuError =
  | NoSuchProcessError
  | NotPermittedError
  | KernelFeatureMissingError
  | ParentImagesInvalidError
  | ImagesDirNotEmptyError
  | ImagesInvalidError
  | CriuUnavailableError
  | ProcessChangedError
  | RefusedTargetError
  | PidInUseError
  | CriuFailedError;

function hasName(err: unknown, name: string): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === name;
}

export const isNoSuchProcessError = (e: unknown): e is NoSuchProcessError =>
  e instanceof NoSuchProcessError || hasName(e, 'NoSuchProcessError');
export const isNotPermittedError = (e: unknown): e is NotPermittedError =>
  e instanceof NotPermittedError || hasName(e, 'NotPermittedError');
export const isKernelFeatureMissingError = (e: unknown): e is KernelFeatureMissingError =>
  e instanceof KernelFeatureMissingError || hasName(e, 'KernelFeatureMissingError');
export const isParentImagesInvalidError = (e: unknown): e is ParentImagesInvalidError =>
  e instanceof ParentImagesInvalidError || hasName(e, 'ParentImagesInvalidError');
export const isImagesDirNotEmptyError = (e: unknown): e is ImagesDirNotEmptyError =>
  e instanceof ImagesDirNotEmptyError || hasName(e, 'ImagesDirNotEmptyError');
export const isImagesInvalidError = (e: unknown): e is ImagesInvalidError =>
  e instanceof ImagesInvalidError || hasName(e, 'ImagesInvalidError');
export const isCriuUnavailableError = (e: unknown): e is CriuUnavailableError =>
  e instanceof CriuUnavailableError || hasName(e, 'CriuUnavailableError');
export const isProcessChangedError = (e: unknown): e is ProcessChangedError =>
  e instanceof ProcessChangedError || hasName(e, 'ProcessChangedError');
export const isRefusedTargetError = (e: unknown): e is RefusedTargetError =>
  e instanceof RefusedTargetError || hasName(e, 'RefusedTargetError');
export const isPidInUseError = (e: unknown): e is PidInUseError =>
  e instanceof PidInUseError || hasName(e, 'PidInUseError');
export const isCriuFailedError = (e: unknown): e is CriuFailedError =>
  e instanceof CriuFailedError || hasName(e, 'CriuFailedError');

const KIND_BY_NAME: Record<string, CriuErrorKind> = {
  NoSuchProcessError: 'no-such-process',
  NotPermittedError: 'not-permitted',
  KernelFeatureMissingError: 'kernel-feature-missing',
  ParentImagesInvalidError: 'parent-images-invalid',
  ImagesDirNotEmptyError: 'images-dir-not-empty',
  ImagesInvalidError: 'images-invalid',
  CriuUnavailableError: 'criu-unavailable',
  ProcessChangedError: 'process-changed',
  RefusedTargetError: 'refused-target',
  PidInUseError: 'pid-in-use',
  CriuFailedError: 'criu-failed',
  PolicyRefused: 'policy-refused',
};

/**
 * The stable kind of a CRIU-layer error, or null for anything else. Works on errors that crossed
 * a serialisation boundary too, as long as `name` survived.
 */
export function criuErrorKind(err: unknown): CriuErrorKind | null {
  if (typeof err !== 'object' || err === null) return null;
  const name = (err as { name?: unknown }).name;
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(KIND_BY_NAME, name)
    ? KIND_BY_NAME[name]!
    : null;
}

/**
 * Kinds that no retry can fix without a human changing something (the activities layer maps these
 * to non-retryable failures). 'criu-failed' and 'pid-in-use' may be transient.
 */
export const PERMANENT_CRIU_ERROR_KINDS: ReadonlySet<CriuErrorKind> = new Set<CriuErrorKind>([
  'no-such-process',
  'not-permitted',
  'kernel-feature-missing',
  'parent-images-invalid',
  'images-dir-not-empty',
  'images-invalid',
  'criu-unavailable',
  'process-changed',
  'refused-target',
  'policy-refused',
]);
