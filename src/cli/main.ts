/**
 * Entry point of the `ferry` command: builds the command tree, runs it, and turns errors into
 * one clear line on stderr and an exit code (see exit-codes.ts).
 */
import { Command, CommanderError } from 'commander';
import { EXIT_CONFIG, EXIT_FAILURE, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE } from './exit-codes';
import { registerCommands } from './commands';
import { UsageError } from './usage-error';
import { forgetPrintedResult, printedResult } from './output';
import { errorKind, FerryError, isError } from '../core';
import { ConfigError } from '../config/config';

export function buildProgram(): Command {
  const program = new Command('ferry')
    .description(
      'Checkpoint running Linux processes with CRIU incremental pre-dumps, store every layer in ' +
        'S3-compatible storage, and orchestrate checkpoint, restore and migration as durable ' +
        'Temporal workflows.',
    )
    .version(`ferry ${packageVersion()}`, '-V, --version', "print ferry's version")
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (text, write) => write(text) })
    .exitOverride();
  registerCommands(program);
  return program;
}

/** The version in ferry's package.json (read at run time: src/ and dist/ both sit one level below it). */
function packageVersion(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('../../package.json') as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Known failures print their message; anything else is a bug and prints its stack. */
export function describeFailure(err: unknown): { code: number; message: string } {
  if (isError(err, UsageError)) return { code: EXIT_USAGE, message: `ferry: ${err.message}` };
  if (isError(err, ConfigError)) return { code: EXIT_CONFIG, message: `ferry: ${err.message}` };
  if (err instanceof Error && err.name !== 'Error' && err.name !== 'TypeError' && err.name !== 'RangeError') {
    // Typed errors from criu/, storage/ and workflows carry a user-facing message.
    return { code: EXIT_FAILURE, message: `ferry: ${err.message}` };
  }
  const text = err instanceof Error ? (process.env.FERRY_DEBUG ? err.stack ?? err.message : err.message) : String(err);
  return { code: err instanceof Error && err.name === 'Error' ? EXIT_FAILURE : EXIT_INTERNAL, message: `ferry: ${text}` };
}

/** Whether the command line asks for JSON (before any `--`, which ends the options). */
function asksForJson(argv: string[]): boolean {
  const args = argv.slice(2);
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('--json');
}

/**
 * A failure as JSON on stdout, for scripts that asked for --json: they read one document whether
 * the command worked or not. `kind` is ferry's failure kind (e.g. "no-such-process"), "usage" for
 * a command line commander refused, "config-invalid" for a bad setting, "internal" for a bug.
 */
function writeJsonError(kind: string, message: string, exitCode: number, extra: Record<string, string> = {}): void {
  process.stdout.write(JSON.stringify({ error: { kind, message: message.replace(/^ferry: /, ''), exitCode, ...extra } }, null, 2) + '\n');
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const json = asksForJson(argv);
  forgetPrintedResult();
  try {
    await program.parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      if (err.exitCode === 0) return EXIT_OK;
      if (json) writeJsonError('usage', err.message.replace(/^error: /, ''), EXIT_USAGE, { code: err.code });
      return EXIT_USAGE;
    }
    const { code, message } = describeFailure(err);
    process.stderr.write(message + '\n');
    if (json && !printedResult()) writeJsonError(code === EXIT_USAGE ? 'usage' : code === EXIT_INTERNAL ? 'internal' : (errorKind(err) ?? (err instanceof FerryError ? err.kind : 'failed')), message, code);
    return code;
  }
}
