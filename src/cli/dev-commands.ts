/**
 * `ferry dev up | down | status | reset | env`: the local dev stack (Temporal dev server and MinIO on
 * loopback) that every setting defaults to.
 */
import type { Command } from 'commander';
import { loadConfig } from '../config/config';
import type { StackStatus } from '../devstack/stack';
import { emit, note, parsePositiveInt, type OutputOptions } from './output';

// The dev stack pulls in the AWS SDK and Temporal's client (about a second to load): only the
// dev commands pay for it, not every `ferry` invocation.
const loadStack = () => import('../devstack/stack');

/** `ferry dev status` exit code when something is not running or not answering. */
export const EXIT_STACK_DOWN = 3;

function formatStatus(status: StackStatus): string {
  const lines = status.components.map((c) => {
    const state = c.state === 'running' ? (c.answering ? 'running' : 'running, NOT answering') : c.staleRecord ? 'stopped (stale record)' : 'stopped';
    const pid = c.pid === null ? '' : ` pid ${c.pid}`;
    return `${c.component.padEnd(8)} ${state}${pid}\n  address ${c.address}  ui ${c.uiAddress}\n  data    ${c.dataPath}\n  log     ${c.logFile}`;
  });
  lines.push(`bucket   ${status.bucket}`, `credentials file ${status.credentialsFile}`);
  lines.push(status.up ? 'dev stack is up' : 'dev stack is NOT fully up: run `ferry dev up`');
  return lines.join('\n');
}

/** Exit with a code other than the default, after stdout has been written out. */
async function exitWith(code: number): Promise<never> {
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}

export function registerDevCommands(program: Command): void {
  const dev = program
    .command('dev')
    .description('Run the local dev stack: a Temporal dev server and MinIO on 127.0.0.1, data under the state dir');

  dev
    .command('up')
    .description('Start the dev stack (what is not running yet), wait until it answers, create the bucket')
    .option('--timeout <seconds>', `how long to wait for the components to answer (default 90)`)
    .option('--json', 'print the result as JSON')
    .action(async (opts: OutputOptions & { timeout?: string }) => {
      const timeoutMs = opts.timeout === undefined ? undefined : parsePositiveInt('--timeout', opts.timeout) * 1000;
      const config = loadConfig();
      const { devUp } = await loadStack();
      const result = await devUp(config, { ...(timeoutMs ? { timeoutMs } : {}), progress: (line) => note(opts, line) });
      emit(opts, result, (r) =>
        [
          ...r.components.map((c) => `${c.component.padEnd(8)} ${c.action === 'started' ? 'started' : 'already running'} (pid ${c.pid}) at ${c.address}, ui ${c.uiAddress}`),
          `bucket   ${r.bucket.name} ${r.bucket.created ? 'created' : 'exists'}`,
          `S3 credentials: file ${r.credentialsFile}, profile ${r.credentialsProfile}`,
          `ready in ${(r.elapsedMs / 1000).toFixed(1)} s; for other shells and tools: eval "$(ferry dev env)"`,
        ].join('\n'),
      );
    });

  dev
    .command('down')
    .description('Stop exactly the processes `ferry dev up` started (data is kept)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: OutputOptions) => {
      const { devDown } = await loadStack();
      const result = await devDown(loadConfig());
      emit(opts, result, (r) =>
        r.components.length === 0
          ? 'nothing to stop: no dev stack processes are recorded'
          : r.components
              .map((c) => `${c.component.padEnd(8)} ${c.outcome === 'not-running' ? 'was not running' : c.outcome === 'killed' ? 'killed (ignored SIGTERM)' : 'stopped'} (pid ${c.pid})`)
              .join('\n'),
      );
    });

  dev
    .command('status')
    .description(`Show what runs where; exit 0 when everything runs and answers, ${EXIT_STACK_DOWN} otherwise`)
    .option('--json', 'print the result as JSON')
    .action(async (opts: OutputOptions) => {
      const { devStatus } = await loadStack();
      const status = await devStatus(loadConfig());
      emit(opts, status, formatStatus);
      if (!status.up) await exitWith(EXIT_STACK_DOWN);
    });

  dev
    .command('reset')
    .description("Remove the dev stack's checkpoints (every object in its bucket) and its Temporal schedules; the stack keeps running")
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
It asks nothing, so it refuses unless FERRY_S3_ENDPOINT and FERRY_TEMPORAL_ADDRESS are the dev
stack's own (their defaults). Workflow histories stay in Temporal; \`ferry dev down\` and removing
the state dir is the way to a completely fresh stack.`)
    .action(async (opts: OutputOptions) => {
      const { devReset } = await import('../devstack/reset');
      const result = await devReset(loadConfig());
      emit(opts, result, (r) =>
        [
          `bucket   ${r.bucket}: deleted ${r.objectsDeleted} object(s), aborted ${r.uploadsAborted} unfinished upload(s)`,
          `temporal namespace ${r.namespace}: deleted ${r.schedulesDeleted.length} schedule(s)${r.schedulesDeleted.length ? `: ${r.schedulesDeleted.join(', ')}` : ''}`,
          'the dev stack is still running',
        ].join('\n'),
      );
    });

  dev
    .command('env')
    .description('Print the shell settings that point ferry, the temporal CLI and AWS tools at the dev stack (eval "$(ferry dev env)")')
    .option('--json', 'print the settings as a JSON object')
    .action(async (opts: OutputOptions) => {
      const { devEnv, formatExports } = await loadStack();
      const vars = devEnv(loadConfig());
      if (opts.json) {
        emit(opts, Object.fromEntries(vars.map((v) => [v.name, v.value])), () => '');
      } else {
        emit(opts, vars, formatExports);
      }
    });
}
