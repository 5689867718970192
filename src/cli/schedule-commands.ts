/**
 * `ferry schedule`: nightly pre-dumps through Temporal Schedules. Each run of a schedule adds one
 * pre-dump layer to the process's warm chain (workflow `warmPreDump`), so that
 * `ferry checkpoint --from-warm` and `ferry migrate --from-warm` dump only what changed since.
 */
import type { Command } from 'commander';
import type { ScheduleDescription, ScheduleSummary } from '@temporalio/client';
import { emit, parsePositiveInt, quoted, type OutputOptions } from './output';
import type { FerryClient } from '../client';
import { addCommands, jsonOption, type ArgumentDef, type CommandDef } from './command-table';
import { UsageError } from './usage-error';
import { withClient, withServedHosts } from './checkpoint-commands';
import { parseHost, parseScheduleId } from './id-args';

interface CreateFlags extends OutputOptions {
  host?: string;
  pid?: string;
  pidFile?: string;
  cron: string;
  timeZone?: string;
  maxChain?: string;
}


const CRON_MACROS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface CronField {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** `?`, and the L / W / # forms, are allowed here (left for Temporal to interpret). */
  special?: boolean;
}

const MINUTE: CronField = { name: 'minute', min: 0, max: 59 };
const HOUR: CronField = { name: 'hour', min: 0, max: 23 };
const DAY: CronField = { name: 'day of month', min: 1, max: 31, special: true };
const MONTH: CronField = { name: 'month', min: 1, max: 12, names: MONTHS };
const WEEKDAY: CronField = { name: 'weekday', min: 0, max: 7, names: DAYS, special: true };
const SECOND: CronField = { name: 'second', min: 0, max: 59 };
const YEAR: CronField = { name: 'year', min: 1970, max: 2199 };

const CRON_HELP = 'a cron expression such as "0 2 * * *" (minute hour day month weekday) or one of ' + CRON_MACROS.join(' ');

function cronValue(field: CronField, text: string, whole: string): number {
  const upper = text.toUpperCase();
  const byName = field.names?.indexOf(upper) ?? -1;
  const value = byName >= 0 ? byName + (field.names === MONTHS ? 1 : 0) : /^\d{1,4}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(value) || value < field.min || value > field.max) {
    throw new UsageError(`--cron ${quoted(whole)}: ${field.name} ${quoted(text)} is out of range (${field.min}-${field.max}); use ${CRON_HELP}`);
  }
  return value;
}

function checkCronField(field: CronField, text: string, whole: string): void {
  for (const item of text.split(',')) {
    if (field.special && (item === '?' || /[LW#]/i.test(item))) continue;
    const [range, step, extra] = item.split('/');
    if (extra !== undefined || range === undefined || range === '') throw new UsageError(`--cron ${quoted(whole)}: ${field.name} ${quoted(item)} is invalid; use ${CRON_HELP}`);
    if (step !== undefined && (!/^\d{1,4}$/.test(step) || Number(step) === 0)) throw new UsageError(`--cron ${quoted(whole)}: step ${quoted(step)} of the ${field.name} is invalid (a whole number from 1)`);
    if (range === '*') continue;
    const [lo, hi, more] = range.split('-');
    if (more !== undefined) throw new UsageError(`--cron ${quoted(whole)}: ${field.name} ${quoted(item)} is invalid; use ${CRON_HELP}`);
    const a = cronValue(field, lo!, whole);
    if (hi !== undefined && cronValue(field, hi, whole) < a) throw new UsageError(`--cron ${quoted(whole)}: ${field.name} range ${quoted(range)} is invalid (it runs backwards)`);
  }
}

/**
 * Checks a cron expression before it reaches Temporal, so that a typo is a usage error naming the
 * bad field rather than the server's refusal: 5 fields (minute hour day month weekday), or 6-7
 * with seconds first and a year last, or a macro (@daily ...) or `@every <duration>`.
 */
export function validateCron(cron: string): string {
  const text = cron.trim();
  // Some cron dialects put the zone inside the expression; ferry has a flag for it.
  const zone = /^(CRON_TZ|TZ)=(\S+)\s/.exec(text);
  if (zone) throw new UsageError(`--cron ${quoted(text)}: give the time zone with --time-zone ${zone[2]!.slice(0, 64)} instead of ${zone[1]}= in the expression`);
  if (text.startsWith('@')) {
    if (CRON_MACROS.includes(text.toLowerCase()) || /^@every\s+(\d+(ns|us|ms|s|m|h))+$/.test(text)) return text;
    throw new UsageError(`--cron ${quoted(cron)} is not a known macro; use ${CRON_HELP}, or @every <duration> such as @every 12h`);
  }
  const fields = text.split(/\s+/);
  if (text === '' || fields.length < 5 || fields.length > 7 || !fields.every((f) => /^[0-9*/,\-A-Za-z?LW#]+$/.test(f))) {
    throw new UsageError(`--cron must be ${CRON_HELP}, got ${quoted(cron)}`);
  }
  const layout = fields.length === 5 ? [MINUTE, HOUR, DAY, MONTH, WEEKDAY] : [SECOND, MINUTE, HOUR, DAY, MONTH, WEEKDAY, YEAR];
  fields.forEach((f, i) => checkCronField(layout[i]!, f, cron));
  return text;
}

function summaryJson(s: ScheduleSummary) {
  const action = s.action as { workflowType?: string; args?: unknown[] } | undefined;
  return {
    scheduleId: s.scheduleId,
    paused: s.state.paused,
    note: s.state.note ?? null,
    workflowType: action?.workflowType ?? null,
    input: action?.args?.[0] ?? null,
    nextActionTimes: s.info.nextActionTimes.map((d) => d.toISOString()),
    recentActions: s.info.recentActions.map((a) => ({
      scheduledAt: a.scheduledAt.toISOString(),
      takenAt: a.takenAt.toISOString(),
      workflowId: a.action.workflow.workflowId,
      runId: a.action.workflow.firstExecutionRunId,
    })),
  };
}

function describeJson(d: ScheduleDescription) {
  const action = d.action as { workflowType?: string; args?: unknown[]; workflowId?: string };
  return {
    scheduleId: d.scheduleId,
    paused: d.state.paused,
    note: d.state.note ?? null,
    cron: typeof d.memo?.cron === 'string' ? [d.memo.cron] : [],
    calendars: d.spec.calendars ?? [],
    overlap: d.policies.overlap,
    workflowType: action.workflowType ?? null,
    workflowId: action.workflowId ?? null,
    input: action.args?.[0] ?? null,
    numActionsTaken: d.info.numActionsTaken,
    numActionsSkippedOverlap: d.info.numActionsSkippedOverlap,
    runningActions: d.info.runningActions.map((a) => ({ workflowId: a.workflow.workflowId, runId: a.workflow.firstExecutionRunId })),
    recentActions: d.info.recentActions.map((a) => ({
      scheduledAt: a.scheduledAt.toISOString(),
      takenAt: a.takenAt.toISOString(),
      workflowId: a.action.workflow.workflowId,
      runId: a.action.workflow.firstExecutionRunId,
    })),
    nextActionTimes: d.info.nextActionTimes.map((t) => t.toISOString()),
  };
}

/**
 * What validateCron cannot know (a time zone name, a cron form it lets through) Temporal refuses
 * with INVALID_ARGUMENT: that is still the caller's input to fix, so a usage error.
 */
async function createOrExplain(create: () => Promise<void>): Promise<void> {
  try {
    await create();
  } catch (err) {
    const code = (err as { code?: unknown; cause?: { code?: unknown } } | null)?.code ?? (err as { cause?: { code?: unknown } } | null)?.cause?.code;
    if (code === 3) throw new UsageError(`the schedule was refused as invalid: ${(err as Error).message.slice(0, 300)}; check --cron and --time-zone`);
    throw err;
  }
}

async function runCreate(name: string, opts: CreateFlags): Promise<void> {
  const id = parseScheduleId(name);
  const host = parseHost('--host', opts.host);
  if ((opts.pid === undefined) === (opts.pidFile === undefined)) throw new UsageError('give exactly one of --pid and --pid-file');
  const pid = opts.pid !== undefined ? parsePositiveInt('--pid', opts.pid) : undefined;
  if (opts.pidFile !== undefined && !opts.pidFile.startsWith('/')) throw new UsageError(`--pid-file must be an absolute path (it is read on the host), got ${JSON.stringify(opts.pidFile)}`);
  const cron = validateCron(opts.cron);
  const maxChainLength = opts.maxChain !== undefined ? parsePositiveInt('--max-chain', opts.maxChain) : undefined;
  await withServedHosts([host], async (ferry) => {
    await createOrExplain(() => ferry.createWarmSchedule({
      scheduleId: id,
      cron,
      ...(opts.timeZone ? { timeZone: opts.timeZone } : {}),
      input: { host, ...(pid !== undefined ? { pid } : { pidFile: opts.pidFile }), ...(maxChainLength ? { maxChainLength } : {}) },
    }));
    const d = describeJson(await ferry.describeSchedule(id));
    emit(opts, d, (v) => `schedule ${v.scheduleId} created: warm pre-dumps of ${pid !== undefined ? `pid ${pid}` : opts.pidFile} on ${host} at "${cron}"; next run ${v.nextActionTimes[0] ?? '-'}`);
  });
}

function listText(list: ReturnType<typeof summaryJson>[]): string {
  if (list.length === 0) return 'no schedules';
  return list.map((s) => `${s.scheduleId}${s.paused ? ' (paused)' : ''}: ${s.workflowType ?? '?'} ${JSON.stringify(s.input)}; next ${s.nextActionTimes[0] ?? '-'}`).join('\n');
}

async function runList(opts: OutputOptions): Promise<void> {
  await withClient(async (ferry) => {
    emit(opts, (await ferry.listSchedules()).map(summaryJson), listText);
  });
}

function showText(v: ReturnType<typeof describeJson>, ferry: FerryClient): string {
  return [
    `schedule ${v.scheduleId}${v.paused ? ' (paused)' : ''}: ${v.workflowType} ${JSON.stringify(v.input)}`,
    `  cron ${v.cron.join(', ') || '-'}; overlap ${v.overlap}; runs taken ${v.numActionsTaken}, skipped for overlap ${v.numActionsSkippedOverlap}`,
    `  next: ${v.nextActionTimes.slice(0, 3).join(', ') || '-'}`,
    ...v.runningActions.map((a) => `  running: ${a.workflowId}`),
    ...v.recentActions.map((a) => `  ran ${a.takenAt}: ${a.workflowId} (${ferry.workflowUrl(a.workflowId, a.runId) ?? a.runId})`),
    ...(v.note ? [`  note: ${v.note}`] : []),
  ].join('\n');
}

async function runShow(name: string, opts: OutputOptions): Promise<void> {
  await withClient(async (ferry) => {
    const d = describeJson(await ferry.describeSchedule(parseScheduleId(name)));
    emit(opts, d, (v) => showText(v, ferry));
  });
}

/**
 * trigger, pause, unpause and delete: one call on the named schedule, then one line saying it is
 * done. The name is checked once connected, as it always was: an unreachable Temporal is reported
 * before a bad name.
 */
function onSchedule<O>(call: (ferry: FerryClient, id: string, opts: O) => Promise<void>, done: (name: string) => string) {
  return async (name: string, opts: O): Promise<void> => {
    await withClient(async (ferry) => {
      await call(ferry, parseScheduleId(name), opts);
      process.stdout.write(`schedule ${name} ${done(name)}\n`);
    });
  };
}

const NAME_ARG: ArgumentDef = { name: '<name>', help: 'schedule id' };

export const SCHEDULE_COMMAND: CommandDef = {
  name: 'schedule',
  description: 'Nightly pre-dumps (Temporal Schedules): each run adds a pre-dump layer to a process\'s warm chain',
  subcommands: [
    {
      name: 'create',
      description: 'Create a schedule of warm pre-dumps for one process',
      args: [NAME_ARG],
      options: [
        { flags: '--host <name>', help: "host the process runs on (its `ferry worker --host` name; default: this machine's hostname)" },
        { flags: '--pid <pid>', help: 'process to pre-dump' },
        { flags: '--pid-file <file>', help: 'absolute path of a pid file, read on the host at each run (follows restarts)' },
        { flags: '--cron <expr>', help: 'when to run, e.g. "0 2 * * *" for 02:00 every night', required: true },
        { flags: '--time-zone <tz>', help: 'IANA time zone for --cron (default UTC)' },
        { flags: '--max-chain <n>', help: 'start a new warm chain after this many layers (default 7)' },
        jsonOption(),
      ],
      helpAfter: `
Example:
  $ ferry schedule create nightly-db --host db-1 --pid-file /run/db.pid --cron "0 2 * * *"

A run never overlaps another on the same process (overlap policy SKIP, and the per-process
workflow id). Where the kernel cannot track dirty memory, each run ends at once saying so.`,
      action: runCreate,
    },
    {
      name: 'ls',
      description: 'List schedules',
      options: [jsonOption()],
      action: runList,
    },
    {
      name: 'show',
      description: 'Show a schedule, its recent and running runs',
      args: [NAME_ARG],
      options: [jsonOption()],
      action: runShow,
    },
    {
      name: 'trigger',
      description: 'Run a schedule now (skipped if a run of it is still going)',
      args: [NAME_ARG],
      action: onSchedule((ferry, id) => ferry.triggerSchedule(id), (name) => `triggered; see \`ferry schedule show ${name}\``),
    },
    {
      name: 'pause',
      description: 'Pause a schedule (no runs until unpaused)',
      args: [NAME_ARG],
      options: [{ flags: '--note <text>', help: 'why it is paused' }],
      action: onSchedule((ferry, id, opts: { note?: string }) => ferry.pauseSchedule(id, opts.note), () => 'paused'),
    },
    {
      name: 'unpause',
      description: 'Resume a paused schedule',
      args: [NAME_ARG],
      action: onSchedule((ferry, id) => ferry.unpauseSchedule(id), () => 'unpaused'),
    },
    {
      name: 'delete',
      description: 'Delete a schedule (its warm chain stays stored)',
      args: [NAME_ARG],
      action: onSchedule((ferry, id) => ferry.deleteSchedule(id), () => 'deleted'),
    },
  ],
};

export function registerScheduleCommands(program: Command): void {
  addCommands(program, [SCHEDULE_COMMAND]);
}
