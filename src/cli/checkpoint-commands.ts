/**
 * The durable commands: `ferry checkpoint`, `ferry restore-checkpoint`, `ferry migrate` and
 * `ferry status`. They start ferry's Temporal workflows (a `ferry worker` per host runs them)
 * and, with --wait, print the result. The Temporal client is loaded only when a command runs.
 */
import type { Command } from 'commander';
import type { FerryClient, WorkflowStatus } from '../client';
import type { CheckpointResult, MigrateResult, RestoreResult } from '../workflows/types';
import type { ConvergencePolicy } from '../workflows/convergence-policy';
import { parseCheckpointId, parseHost } from './id-args';
import { emit, note, parsePositiveInt, quoted, type OutputOptions } from './output';
import { addCommands, jsonOption, type CommandDef, type OptionDef } from './command-table';
import { UsageError } from './usage-error';
import { failureKind } from '../core/ferry-error';
import { CRIU_RESOURCE_OPTIONS, criuOptionsFrom, type CriuOptionFlags } from './criu-option-flags';
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


function parseNonNegativeInt(flag: string, raw: string): number {
  if (!/^\d+$/.test(raw.trim()) || Number(raw) > 100) throw new UsageError(`${flag} must be an integer from 0 to 100, got ${quoted(raw)}`);
  return Number(raw);
}

interface PolicyFlags {
  preDumps?: string;
  catchUps?: string;
  maxDowntime?: string;
  minSaving?: string;
  requirePreDumps?: boolean;
}

function policyFrom(opts: PolicyFlags): Partial<ConvergencePolicy> {
  const policy: Partial<ConvergencePolicy> = {};
  if (opts.preDumps !== undefined) policy.maxPreDumps = parseNonNegativeInt('--pre-dumps', opts.preDumps);
  if (opts.catchUps !== undefined) policy.maxCatchUps = parseNonNegativeInt('--catch-ups', opts.catchUps);
  if (opts.maxDowntime !== undefined) policy.maxDowntimeMs = parsePositiveInt('--max-downtime', opts.maxDowntime);
  if (opts.minSaving !== undefined) policy.minSavingMs = parseNonNegativeInt('--min-saving', opts.minSaving);
  if (opts.requirePreDumps) {
    if (policy.maxPreDumps === 0) throw new UsageError('--require-pre-dumps contradicts --pre-dumps 0');
    policy.requirePreDumps = true;
  }
  return policy;
}

function checkpointIdFrom(raw: string | undefined, host: string, pid: number): string {
  if (raw !== undefined) {
    return parseCheckpointId(raw, '--checkpoint-id');
  }
  // Chosen here rather than in the workflow, so it can be printed before the workflow ends.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../client') as typeof import('../client')).newCheckpointId(host, pid);
}

/** Every ferry workflow's first step runs on its host: refuse before starting it when no worker serves one. */
export async function withServedHosts<T>(hosts: string[], fn: (ferry: FerryClient) => Promise<T>): Promise<T> {
  return withClient(async (ferry) => {
    for (const host of hosts) await ferry.assertHostServed(host);
    return fn(ferry);
  });
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

interface WaitFlags extends OutputOptions {
  wait?: boolean;
}

/** How one started workflow is reported: at once, or with --wait once its result is in. */
interface Report<R> {
  /** What was started, as the line without --wait names it. */
  started: string;
  checkpointId: string;
  /** The note on stderr while --wait waits. */
  waiting: (workflowId: string, url: string | null) => string;
  /** The --json document of the result (default: the result and the link). */
  json?: (result: R, url: string | null) => unknown;
  text: (result: R, url: string | null) => string;
}

async function report<R>(ferry: FerryClient, opts: WaitFlags, handle: { workflowId: string; firstExecutionRunId: string }, how: Report<R>): Promise<void> {
  const url = ferry.workflowUrl(handle.workflowId, handle.firstExecutionRunId);
  if (!opts.wait) {
    emit(opts, { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, checkpointId: how.checkpointId, url } as Started, formatStarted(how.started));
    return;
  }
  note(opts, how.waiting(handle.workflowId, url));
  const r = await ferry.result<R>(handle.workflowId);
  emit(opts, how.json ? how.json(r, url) : { ...r, url }, () => how.text(r, url));
}

interface CheckpointFlags extends WaitFlags, PolicyFlags, CriuOptionFlags {
  pid: string;
  host?: string;
  leaveRunning?: boolean;
  fromWarm?: boolean;
  checkpointId?: string;
}

interface RestoreFlags extends WaitFlags {
  host?: string;
}

interface MigrateFlags extends WaitFlags, PolicyFlags, CriuOptionFlags {
  pid: string;
  from: string;
  to: string;
  warm: boolean;
  direct: boolean;
  lazy?: boolean;
  checkpointId?: string;
}

async function runCheckpoint(opts: CheckpointFlags): Promise<void> {
  const pid = parsePositiveInt('--pid', opts.pid);
  const host = parseHost('--host', opts.host);
  const policy = policyFrom(opts);
  const checkpointId = checkpointIdFrom(opts.checkpointId, host, pid);
  await withServedHosts([host], async (ferry) => {
    const handle = await ferry.startCheckpoint({ host, pid, policy, leaveRunning: !!opts.leaveRunning, fromWarm: !!opts.fromWarm, checkpointId, ...criuOptionsFrom(opts) });
    await report<CheckpointResult>(ferry, opts, handle, {
      started: `checkpoint ${checkpointId}`,
      checkpointId,
      waiting: (workflowId, url) => `checkpoint ${checkpointId} running as workflow ${workflowId}${url ? ` (${url})` : ''} ...`,
      text: formatCheckpoint,
    });
  });
}

async function runRestoreCheckpoint(checkpointId: string, opts: RestoreFlags): Promise<void> {
  const host = parseHost('--host', opts.host);
  parseCheckpointId(checkpointId);
  await withServedHosts([host], async (ferry) => {
    const handle = await ferry.startRestore({ host, checkpointId });
    await report<RestoreResult>(ferry, opts, handle, {
      started: `restore of ${checkpointId}`,
      checkpointId,
      waiting: (workflowId) => `restoring ${checkpointId} on ${host} as workflow ${workflowId} ...`,
      json: (r, url) => ({ ...r, newPid: r.pid, url }),
      text: formatRestore,
    });
  });
}

async function runMigrate(opts: MigrateFlags): Promise<void> {
  const pid = parsePositiveInt('--pid', opts.pid);
  const from = parseHost('--from', opts.from);
  const to = parseHost('--to', opts.to);
  if (from === to) throw new UsageError(`--from and --to are both ${JSON.stringify(from)}; give two different hosts`);
  if (opts.lazy && opts.direct === false) throw new UsageError('--lazy moves the process over the direct link between the two workers: it cannot be combined with --no-direct');
  const policy = policyFrom(opts);
  const checkpointId = checkpointIdFrom(opts.checkpointId, from, pid);
  await withServedHosts([from, to], async (ferry) => {
    const handle = await ferry.startMigrate({ pid, from, to, policy, fromWarm: opts.warm !== false, checkpointId, ...(opts.direct === false ? { direct: false } : {}), ...(opts.lazy ? { lazy: true } : {}), ...criuOptionsFrom(opts) });
    await report<MigrateResult>(ferry, opts, handle, {
      started: `migration of pid ${pid}`,
      checkpointId,
      waiting: (workflowId, url) => `migrating pid ${pid} from ${from} to ${to} as workflow ${workflowId}${url ? ` (${url})` : ''} ...`,
      text: formatMigrate,
    });
  });
}

function statusText(v: WorkflowStatus): string {
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
}

function checkedWorkflowRef(id: string): string {
  if (id.trim() === '') throw new UsageError('the workflow or checkpoint id must not be empty (give the id printed by the command that started it)');
  // Workflow ids are at most 1000 bytes by Temporal's default limit; a longer one cannot exist.
  if (id.length > 1000) throw new UsageError(`the workflow or checkpoint id ${quoted(id)} is too long to be one (at most 1000 characters)`);
  return id;
}

async function runStatus(id: string, opts: OutputOptions): Promise<void> {
  checkedWorkflowRef(id);
  await withClient(async (ferry) => {
    emit(opts, await ferry.statusOf(id), statusText);
  });
}

/** A ferry workflow that is not running any more cannot be cancelled or hurried. */
class WorkflowNotRunning extends failureKind('workflow-not-running', { retryable: false }) {
  constructor(workflowId: string, status: string) {
    super(`workflow ${workflowId} is not running (${status}); nothing was sent. \`ferry status ${workflowId}\` shows how it ended`);
  }
}

/** `ferry cancel` and `ferry dump-now`: find the running workflow (by its id or its checkpoint id) and tell it. */
function signalCommand(what: 'cancel' | 'dump-now') {
  return async (id: string, opts: OutputOptions): Promise<void> => {
    checkedWorkflowRef(id);
    await withClient(async (ferry) => {
      const wf = await ferry.statusOf(id);
      if (wf.status !== 'RUNNING') throw new WorkflowNotRunning(wf.workflowId, wf.status);
      if (what === 'cancel') await ferry.cancel(wf.workflowId);
      else await ferry.dumpNow(wf.workflowId);
      const said = what === 'cancel' ? 'cancel requested' : 'dump-now sent';
      emit(opts, { workflowId: wf.workflowId, type: wf.type, sent: what }, (v) => `${said} to ${v.type} workflow ${v.workflowId}; follow it with \`ferry status ${v.workflowId}\``);
    });
  };
}

/** How checkpoint and migrate pre-dump: the convergence policy's flags (see policyFrom). */
const POLICY_OPTIONS: OptionDef[] = [
  { flags: '--pre-dumps <n>', help: 'at most this many back-to-back pre-dumps while the first layers upload (default 3; 0 = none)' },
  {
    flags: '--catch-ups <n>',
    help: 'at most this many catch-up pre-dumps once the stored layers have moved; the final dump follows the last at once (default 3; 0 = none)',
  },
  {
    flags: '--max-downtime <ms>',
    help: 'downtime goal: stop pre-dumping once the predicted downtime is at most this (the freeze, and for migrate moving the final layer too)',
  },
  { flags: '--min-saving <ms>', help: 'pre-dump only where it can save more than this much downtime; smaller processes get one dump (default 100)' },
  { flags: '--require-pre-dumps', help: 'fail instead of taking a single full dump when the kernel cannot pre-dump' },
];

export const CHECKPOINT_COMMANDS: CommandDef[] = [
  {
    name: 'checkpoint',
    description: 'Checkpoint a running process durably: pre-dumps while it runs, a final dump, every layer stored (Temporal workflow `checkpoint`)',
    options: [
      { flags: '--pid <pid>', help: 'process to checkpoint', required: true },
      { flags: '--host <name>', help: "host the process runs on: the name its `ferry worker --host` uses (default: this machine's hostname)" },
      ...POLICY_OPTIONS,
      { flags: '--leave-running', help: 'keep the process running after the final dump (default: it stops once dumped)' },
      { flags: '--from-warm', help: "build on the process's warm chain of nightly pre-dumps (see `ferry schedule`)" },
      { flags: '--checkpoint-id <id>', help: 'store under this id (default: <host>-<pid>-<random>)' },
      ...CRIU_RESOURCE_OPTIONS,
      { flags: '--wait', help: 'wait for the result and print it' },
      jsonOption(),
    ],
    helpAfter: `
Examples:
  $ ferry checkpoint --pid 4242 --host web-1 --wait
  $ ferry checkpoint --pid 4242 --host web-1 --pre-dumps 5 --max-downtime 50 --leave-running --wait --json
  $ ferry checkpoint --pid 4242 --host web-1 --file-locks --wait    # it holds a flock; restores apply it too

How pre-dumps converge: back-to-back pre-dumps while the first layers upload, then catch-up
pre-dumps of what the process dirtied meanwhile, the final dump straight after the last one. Each
decision, with the pages, rates and predicted downtime it used, is in the result (--wait prints
them; --json has them under preDumps.decisions) and in \`ferry status\` while it runs.
Without soft-dirty memory tracking in the kernel, pre-dumps are skipped and the result says why.`,
    action: runCheckpoint,
  },
  {
    name: 'restore-checkpoint',
    description: 'Download a stored checkpoint onto a host, verify it, and restore the process there (Temporal workflow `restore`)',
    args: [{ name: '<checkpoint-id>', help: 'the checkpoint to restore' }],
    options: [
      { flags: '--host <name>', help: "host to restore on: the name its `ferry worker --host` uses (default: this machine's hostname)" },
      { flags: '--wait', help: 'wait for the result and print the new pid' },
      jsonOption(),
    ],
    action: runRestoreCheckpoint,
  },
  {
    name: 'migrate',
    description: 'Move a running process from one host to another: pre-dumps while it runs, final dump, restore on the target (Temporal workflow `migrate`)',
    options: [
      { flags: '--pid <pid>', help: 'process to migrate', required: true },
      { flags: '--from <host>', help: 'host it runs on now', required: true },
      { flags: '--to <host>', help: 'host to restore it on', required: true },
      ...POLICY_OPTIONS,
      { flags: '--no-warm', help: "ignore the process's warm chain of nightly pre-dumps (by default it is the parent when there is one)" },
      { flags: '--no-direct', help: 'move the final layers through the store inside the downtime (by default they go straight to the target worker, and are stored after the restore)' },
      {
        flags: '--lazy',
        help:
          'post-copy: restore on the target before the memory arrives (pages follow on fault and in the background, through an encrypted tunnel from the source); ' +
          'RISK: until the last page has arrived the process needs the source host, and if that host dies first the process is lost',
      },
      { flags: '--checkpoint-id <id>', help: 'store the checkpoint under this id' },
      ...CRIU_RESOURCE_OPTIONS,
      { flags: '--wait', help: 'wait for the result and print the new pid and the downtime' },
      jsonOption(),
    ],
    helpAfter: `
Examples:
  $ ferry migrate --pid 4242 --from web-1 --to web-2 --wait
  $ ferry migrate --pid 4242 --from web-1 --to web-2 --no-direct --wait --json

The final layers go from web-1's worker straight to web-2's (TLS with a key made for this
migration; web-2's worker listens on its --direct-address), the process is restored, and then the
checkpoint is stored. If that link cannot be used, they go through the store and the result says
why. If the restore on the target fails, the process is restored on the source host again.

  $ ferry migrate --pid 4242 --from web-1 --to web-2 --lazy --wait

Post-copy (--lazy): web-1 dumps everything but the memory, web-2 restores from that at once, and
the pages follow from web-1 through a TLS tunnel keyed for this migration, on fault and in the
background. The downtime no longer grows with the memory. The risk: until the last page has
arrived the process needs web-1; if web-1 (or the link) fails before that, the copy on web-2 is
killed and the process is resumed on web-1 from its state at the freeze, or is lost if web-1 is
gone. A failure before the process ran on web-2 resumes it on web-1. Once every page is in, a
--leave-running checkpoint of the process on web-2 is stored (it freezes the process briefly once
more; the result says for how long). Needs fs.pipe-max-size >= 4194304 on web-1.`,
    action: runMigrate,
  },
  {
    name: 'status',
    description: 'Show a ferry workflow: its stage and layers while running, its result or failure once done',
    args: [{ name: '<id>', help: 'workflow id (printed when the workflow was started) or checkpoint id' }],
    options: [jsonOption()],
    action: runStatus,
  },
  {
    name: 'cancel',
    description: 'Cancel a running checkpoint, migration or restore: before the final dump the process keeps running and nothing is kept; after it, the step finishes and its rollback rules hold',
    args: [{ name: '<id>', help: 'workflow id (printed when the workflow was started) or checkpoint id' }],
    options: [jsonOption()],
    helpAfter: `
Examples:
  $ ferry cancel ferry-process-web-1-4242
  $ ferry cancel web-1-4242-1a2b3c4d --json      # by checkpoint id`,
    action: signalCommand('cancel'),
  },
  {
    name: 'dump-now',
    description: 'Tell a running checkpoint or migration to stop pre-dumping and take the final dump now (the signal dumpNow)',
    args: [{ name: '<id>', help: 'workflow id (printed when the workflow was started) or checkpoint id' }],
    options: [jsonOption()],
    helpAfter: `
Examples:
  $ ferry dump-now ferry-migrate-web-1-4242
  $ ferry dump-now web-1-4242-1a2b3c4d

The pre-dump under way finishes first; then the final dump follows at once.`,
    action: signalCommand('dump-now'),
  },
];

export function registerCheckpointCommands(program: Command): void {
  addCommands(program, CHECKPOINT_COMMANDS);
}
