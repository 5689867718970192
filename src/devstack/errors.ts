/**
 * Failures of the local dev stack (`ferry dev up|down|status|env`). Each says what happened, to
 * which component, and what to do next.
 */
import { failureKind, type FerryErrorOptions } from '../core/ferry-error';
export type ComponentName = 'temporal' | 'minio';

/** A component's executable is not installed. */
export class DevStackBinaryMissingError extends failureKind('dev-binary-missing', { retryable: false }) {
  constructor(readonly component: ComponentName, readonly binary: string) {
    super(`cannot start ${component}: \`${binary}\` is not on PATH; install it with \`sudo bash infra/install.sh\``);
  }
}


/** A port the stack needs is held by a process ferry did not start. */
export class DevStackPortInUseError extends failureKind('dev-port-in-use', { retryable: false }) {
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


/** A component was started but exited or did not answer in time; it has been stopped again. */
export class DevStackStartError extends failureKind('dev-start-failed', { retryable: false }) {
  constructor(
    readonly component: ComponentName,
    readonly reason: string,
    readonly logFile: string,
    readonly logTail: string,
    options?: FerryErrorOptions,
  ) {
    super(
      `${component} did not come up: ${reason}. Its log is ${logFile}` +
        (logTail ? `; last lines:\n${logTail}` : '') +
        '\nFix the cause and rerun `ferry dev up`.',
      options,
    );
  }
}


/** A process the stack started did not exit even after SIGKILL. */
export class DevStackStopError extends failureKind('dev-stop-failed', { retryable: false }) {
  constructor(readonly component: ComponentName, readonly pid: number) {
    super(`${component} (pid ${pid}) is still running after SIGTERM and SIGKILL; check it with \`ps -p ${pid}\` and stop it by hand`);
  }
}


/** The stack's state file exists but cannot be used. */
export class DevStackStateError extends failureKind('dev-state-invalid', { retryable: false }) {
  constructor(readonly file: string, readonly problem: string, options?: FerryErrorOptions) {
    super(
      `dev stack state file ${file} ${problem}; make sure no temporal/minio started by ferry still runs ` +
        '(ps -ef), then delete the file and rerun',
      options,
    );
  }
}


/** `ferry dev reset` was pointed at something other than the dev stack: it clears only that. */
export class DevResetRefusedError extends failureKind('dev-reset-refused', { retryable: false }) {
  constructor(readonly setting: string, readonly configured: string, readonly devOwn: string) {
    super(
      `refusing to reset: ${setting} points at ${configured}, not the dev stack's own ${devOwn}. ` +
        '`ferry dev reset` only clears the local dev stack; unset the setting, or use `ferry gc` and `ferry schedule delete` on other deployments',
    );
  }
}
