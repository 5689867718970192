/**
 * Failures of the local dev stack (`ferry dev up|down|status|env`). Each says what happened, to
 * which component, and what to do next.
 */
export type ComponentName = 'temporal' | 'minio';

/** A component's executable is not installed. */
export class DevStackBinaryMissingError extends Error {
  override readonly name = 'DevStackBinaryMissingError';
  constructor(
    readonly component: ComponentName,
    readonly binary: string,
  ) {
    super(`cannot start ${component}: \`${binary}\` is not on PATH; install it with \`sudo bash infra/install.sh\``);
  }
}

export function isDevStackBinaryMissingError(err: unknown): err is DevStackBinaryMissingError {
  return err instanceof DevStackBinaryMissingError || (err as { name?: unknown })?.name === 'DevStackBinaryMissingError';
}

/** A port the stack needs is held by a process ferry did not start. */
export class DevStackPortInUseError extends Error {
  override readonly name = 'DevStackPortInUseError';
  constructor(
    readonly component: ComponentName,
    readonly address: string,
    readonly portSetting: string,
    readonly owner: { pid: number; comm: string } | null,
  ) {
    const who = owner ? `pid ${owner.pid} (${owner.comm})` : 'another program';
    super(
      `cannot start ${component}: ${address} is already in use by ${who}, which \`ferry dev up\` did not start. ` +
        `Stop it, or move the dev stack with ${portSetting}=<free port>`,
    );
  }
}

export function isDevStackPortInUseError(err: unknown): err is DevStackPortInUseError {
  return err instanceof DevStackPortInUseError || (err as { name?: unknown })?.name === 'DevStackPortInUseError';
}

/** A component was started but exited or did not answer in time; it has been stopped again. */
export class DevStackStartError extends Error {
  override readonly name = 'DevStackStartError';
  constructor(
    readonly component: ComponentName,
    readonly reason: string,
    readonly logFile: string,
    readonly logTail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${component} did not come up: ${reason}. Its log is ${logFile}` +
        (logTail ? `; last lines:\n${logTail}` : '') +
        '\nFix the cause and rerun `ferry dev up`.',
      options,
    );
  }
}

export function isDevStackStartError(err: unknown): err is DevStackStartError {
  return err instanceof DevStackStartError || (err as { name?: unknown })?.name === 'DevStackStartError';
}

/** A process the stack started did not exit even after SIGKILL. */
export class DevStackStopError extends Error {
  override readonly name = 'DevStackStopError';
  constructor(
    readonly component: ComponentName,
    readonly pid: number,
  ) {
    super(`${component} (pid ${pid}) is still running after SIGTERM and SIGKILL; check it with \`ps -p ${pid}\` and stop it by hand`);
  }
}

export function isDevStackStopError(err: unknown): err is DevStackStopError {
  return err instanceof DevStackStopError || (err as { name?: unknown })?.name === 'DevStackStopError';
}

/** The stack's state file exists but cannot be used. */
export class DevStackStateError extends Error {
  override readonly name = 'DevStackStateError';
  constructor(
    readonly file: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(
      `dev stack state file ${file} ${problem}; make sure no temporal/minio started by ferry still runs ` +
        '(ps -ef), then delete the file and rerun',
      options,
    );
  }
}

export function isDevStackStateError(err: unknown): err is DevStackStateError {
  return err instanceof DevStackStateError || (err as { name?: unknown })?.name === 'DevStackStateError';
}
