/**
 * The durable commands: `ferry checkpoint`, `ferry restore-checkpoint`, `ferry migrate` and
 * `ferry status`. They start ferry's Temporal workflows (a `ferry worker` per host runs them)
 * and, with --wait, print the result. The Temporal client is loaded only when a command runs.
 */
import os from 'node:os';
import type { Command } from 'commander';
import type { FerryClient } from '../client';
import type { CheckpointResult, MigrateResult, RestoreResult } from '../workflows/types';
import type { ConvergencePolicy } from '../workflows/convergence-policy';
import { emit, note, parsePositiveInt, quoted, type OutputOptions } from './output';
import { UsageError } from './usage-error';
import { formatCheckpoint, formatMigrate, formatRestore } from './workflow-output';

export async function connectClient(): Promise<FerryClient> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { loadConfig } = require('../config/config') as typeof import('../config/config');
  const { FerryClient: Client } = require('../client') as typeof import('../client');
  /* eslint-enable @typescript-eslint/no-require-imports */
  return Client.connect(loadConfig());
}

export async function withClient<T>(fn: (ferry: FerryClient) => Promise<T>): Promise<T> {
  const ferry = await connectClient();
  try {
    return await fn(ferry);
  } finally {
    await ferry.close();
  }
}

export function parseHost(flag: string, raw: string | undefined): string {
  const host = raw ?? os.hostname();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { isValidHostName } = require('../workflows/names') as typeof import('../workflows/names');
  if (!isValidHostName(host)) throw new UsageError(`${flag} must be a host name of letters, digits, . _ - (as given to \`ferry worker --host\`), got ${quoted(host)}`);
  return host;
}

function parseNonNegativeInt(flag: string, raw: string): number {
  if (!/^\d+$/.test(raw.trim()) || Number(raw) > 100) throw new UsageError(`${flag} must be an integer from 0 to 100, got ${quoted(raw)}`);
  return Number(raw);
}

interface PolicyFlags {
  preDumps?: string;
  maxDowntime?: string;
  requirePreDumps?: boolean;
}

function policyFrom(opts: PolicyFlags): Partial<ConvergencePolicy> {
  const policy: Partial<ConvergencePolicy> = {};
  if (opts.preDumps !== undefined) policy.maxPreDumps = parseNonNegativeInt('--pre-dumps', opts.preDumps);
  if (opts.maxDowntime !== undefined) policy.maxDowntimeMs = parsePositiveInt('--max-downtime', opts.maxDowntime);
  if (opts.requirePreDumps) {
    if (policy.maxPreDumps === 0) throw new UsageError('--require-pre-dumps contradicts --pre-dumps 0');
    policy.requirePreDumps = true;
  }
  return policy;
}

function checkpointIdFrom(raw: string | undefined, host: string, pid: number): string {
  if (raw !== undefined) {
    if (!/^[a-z0-9][a-z0-9._-]{0,127}$/.test(raw)) throw new UsageError(`--checkpoint-id must be 1-128 chars of a-z 0-9 . _ -, got ${quoted(raw)}`);
    return raw;
  }
  // Chosen here rather than in the workflow, so it can be printed before the workflow ends.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../client') as typeof import('../client')).newCheckpointId(host, pid);
}

interface Started {
  workflowId: string;
  runId: string;
  url: string | null;
  [key: string]: unknown;
}

function formatStarted(what: string) {
  return (s: Started) =>
    [
      `${what} started as workflow ${s.workflowId}${s.url ? `: ${s.url}` : ''}`,
      `  follow it with \`ferry status ${s.workflowId}\` (or add --wait next time)`,
    ].join('\n');
}

interface CheckpointFlags extends OutputOptions, PolicyFlags {
  pid: string;
  host?: string;
  leaveRunning?: boolean;
  fromWarm?: boolean;
  checkpointId?: string;
  wait?: boolean;
}

interface RestoreFlags extends OutputOptions {
  host?: string;
  wait?: boolean;
}

interface MigrateFlags extends OutputOptions, PolicyFlags {
  pid: string;
  from: string;
  to: string;
  warm: boolean;
  checkpointId?: string;
  wait?: boolean;
}

export function registerCheckpointCommands(program: Command): void {
  program
    .command('checkpoint')
    .description('Checkpoint a running process durably: pre-dumps while it runs, a final dump, every layer stored (Temporal workflow `checkpoint`)')
    .requiredOption('--pid <pid>', 'process to checkpoint')
    .option('--host <name>', "host the process runs on: the name its `ferry worker --host` uses (default: this machine's hostname)")
    .option('--pre-dumps <n>', 'at most this many pre-dumps before the final dump (default 3; 0 = none)')
    .option('--max-downtime <ms>', 'stop pre-dumping once the predicted final freeze is at most this many ms')
    .option('--require-pre-dumps', 'fail instead of taking a single full dump when the kernel cannot pre-dump')
    .option('--leave-running', 'keep the process running after the final dump (default: it stops once dumped)')
    .option('--from-warm', "build on the process's warm chain of nightly pre-dumps (see `ferry schedule`)")
    .option('--checkpoint-id <id>', 'store under this id (default: <host>-<pid>-<random>)')
    .option('--wait', 'wait for the result and print it')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Examples:
  $ ferry checkpoint --pid 4242 --host web-1 --wait
  $ ferry checkpoint --pid 4242 --host web-1 --pre-dumps 5 --max-downtime 50 --leave-running --wait --json

Without soft-dirty memory tracking in the kernel, pre-dumps are skipped and the result says why.`)
    .action(async (opts: CheckpointFlags) => {
      const pid = parsePositiveInt('--pid', opts.pid);
      const host = parseHost('--host', opts.host);
      const policy = policyFrom(opts);
      const checkpointId = checkpointIdFrom(opts.checkpointId, host, pid);
      await withClient(async (ferry) => {
        await ferry.assertHostServed(host);
        const handle = await ferry.startCheckpoint({ host, pid, policy, leaveRunning: !!opts.leaveRunning, fromWarm: !!opts.fromWarm, checkpointId });
        const url = ferry.workflowUrl(handle.workflowId, handle.firstExecutionRunId);
        if (!opts.wait) {
          emit(opts, { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, checkpointId, url } as Started, formatStarted(`checkpoint ${checkpointId}`));
          return;
        }
        note(opts, `checkpoint ${checkpointId} running as workflow ${handle.workflowId}${url ? ` (${url})` : ''} ...`);
        const r = await ferry.result<CheckpointResult>(handle.workflowId);
        emit(opts, { ...r, url }, (v) => formatCheckpoint(v, url));
      });
    });

  program
    .command('restore-checkpoint')
    .description('Download a stored checkpoint onto a host, verify it, and restore the process there (Temporal workflow `restore`)')
    .argument('<checkpoint-id>', 'the checkpoint to restore')
    .option('--host <name>', "host to restore on: the name its `ferry worker --host` uses (default: this machine's hostname)")
    .option('--wait', 'wait for the result and print the new pid')
    .option('--json', 'print JSON')
    .action(async (checkpointId: string, opts: RestoreFlags) => {
      const host = parseHost('--host', opts.host);
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(checkpointId)) throw new UsageError(`checkpoint id ${quoted(checkpointId)} is not valid (1-128 chars of letters, digits, . _ -)`);
      await withClient(async (ferry) => {
        await ferry.assertHostServed(host);
        const handle = await ferry.startRestore({ host, checkpointId });
        const url = ferry.workflowUrl(handle.workflowId, handle.firstExecutionRunId);
        if (!opts.wait) {
          emit(opts, { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, checkpointId, url } as Started, formatStarted(`restore of ${checkpointId}`));
          return;
        }
        note(opts, `restoring ${checkpointId} on ${host} as workflow ${handle.workflowId} ...`);
        const r = await ferry.result<RestoreResult>(handle.workflowId);
        emit(opts, { ...r, newPid: r.pid, url }, (v) => formatRestore(v, url));
      });
    });

  program
    .command('migrate')
    .description('Move a running process from one host to another: pre-dumps while it runs, final dump, restore on the target (Temporal workflow `migrate`)')
    .requiredOption('--pid <pid>', 'process to migrate')
    .requiredOption('--from <host>', 'host it runs on now')
    .requiredOption('--to <host>', 'host to restore it on')
    .option('--pre-dumps <n>', 'at most this many pre-dumps before the final dump (default 3; 0 = none)')
    .option('--max-downtime <ms>', 'stop pre-dumping once the predicted final freeze is at most this many ms')
    .option('--require-pre-dumps', 'fail instead of taking a single full dump when the kernel cannot pre-dump')
    .option('--no-warm', "ignore the process's warm chain of nightly pre-dumps (by default it is the parent when there is one)")
    .option('--checkpoint-id <id>', 'store the checkpoint under this id')
    .option('--wait', 'wait for the result and print the new pid and the downtime')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Example:
  $ ferry migrate --pid 4242 --from web-1 --to web-2 --wait

If the restore on the target fails, the process is restored on the source host again.`)
    .action(async (opts: MigrateFlags) => {
      const pid = parsePositiveInt('--pid', opts.pid);
      const from = parseHost('--from', opts.from);
      const to = parseHost('--to', opts.to);
      if (from === to) throw new UsageError(`--from and --to are both ${JSON.stringify(from)}; give two different hosts`);
      const policy = policyFrom(opts);
      const checkpointId = checkpointIdFrom(opts.checkpointId, from, pid);
      await withClient(async (ferry) => {
        await ferry.assertHostServed(from);
        await ferry.assertHostServed(to);
        const handle = await ferry.startMigrate({ pid, from, to, policy, fromWarm: opts.warm !== false, checkpointId });
        const url = ferry.workflowUrl(handle.workflowId, handle.firstExecutionRunId);
        if (!opts.wait) {
          emit(opts, { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, checkpointId, url } as Started, formatStarted(`migration of pid ${pid}`));
          return;
        }
        note(opts, `migrating pid ${pid} from ${from} to ${to} as workflow ${handle.workflowId}${url ? ` (${url})` : ''} ...`);
        const r = await ferry.result<MigrateResult>(handle.workflowId);
        emit(opts, { ...r, url }, (v) => formatMigrate(v, url));
      });
    });

  program
    .command('status')
    .description('Show a ferry workflow: its stage and layers while running, its result or failure once done')
    .argument('<id>', 'workflow id (printed when the workflow was started) or checkpoint id')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: OutputOptions) => {
      if (id.trim() === '') throw new UsageError('the workflow or checkpoint id must not be empty (give the id printed by the command that started it)');
      // Workflow ids are at most 1000 bytes by Temporal's default limit; a longer one cannot exist.
      if (id.length > 1000) throw new UsageError(`the workflow or checkpoint id ${quoted(id)} is too long to be one (at most 1000 characters)`);
      await withClient(async (ferry) => {
        const s = await ferry.statusOf(id);
        emit(opts, s, (v) => {
          const lines = [`${v.type} ${v.workflowId}: ${v.status} (started ${v.startTime}${v.closeTime ? `, closed ${v.closeTime}` : ''})`];
          if (v.url) lines.push(`  ${v.url}`);
          if (v.progress) lines.push(`  progress: ${JSON.stringify(v.progress)}`);
          if (v.failure) lines.push(`  failed${v.failure.type ? ` (${v.failure.type})` : ''}: ${v.failure.message}`);
          if (v.result) {
            const r = v.result as Record<string, unknown>;
            if (v.type === 'checkpoint') lines.push(formatCheckpoint(r as unknown as CheckpointResult, v.url));
            else if (v.type === 'restore') lines.push(formatRestore(r as unknown as RestoreResult, v.url));
            else if (v.type === 'migrate') lines.push(formatMigrate(r as unknown as MigrateResult, v.url));
            else lines.push(`  result: ${JSON.stringify(r)}`);
          }
          return lines.join('\n');
        });
      });
    });
}
