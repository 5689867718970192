/**
 * `ferry triggers ls` and `ferry triggers test RULE`: the trigger rules of FERRY_TRIGGERS, what
 * each matches on this host right now, and firing one by hand (it starts the same workflow, under
 * the same kind of id, as the event would).
 */
import type { Command } from 'commander';
import type { TriggerRule, TriggerRules, TriggerEvent, Fired, ProcessSnapshot } from '../triggers';
import { parseHost } from './id-args';
import { emit, type OutputOptions } from './output';
import { addCommands, jsonOption, type CommandDef } from './command-table';
import { UsageError } from './usage-error';
import { withServedHosts } from './checkpoint-commands';

/* eslint-disable @typescript-eslint/no-require-imports */
function triggersModule(): typeof import('../triggers') {
  return require('../triggers') as typeof import('../triggers');
}

function loadRules(): TriggerRules {
  const { loadConfig } = require('../config/config') as typeof import('../config/config');
  const config = loadConfig();
  if (!config.triggers) throw new UsageError('FERRY_TRIGGERS is not set: name the trigger rules file (docs/triggers.md)');
  return triggersModule().loadTriggerRules(config.triggers.rulesFile);
}
/* eslint-enable @typescript-eslint/no-require-imports */

function targetText(rule: TriggerRule): string {
  const t = rule.target;
  return t.kind === 'pid-file' ? `pid file ${t.pidFile}` : t.kind === 'cmdline' ? `command line /${t.pattern}/` : `cgroup ${t.cgroup}`;
}

function actionText(rule: TriggerRule): string {
  return rule.action.type === 'migrate' ? `migrate to ${rule.action.to}` : rule.action.type;
}

interface RuleView {
  name: string;
  target: Record<string, string>;
  events: readonly TriggerEvent[];
  action: TriggerRule['action'];
  policy: TriggerRule['policy'];
  matches: Array<Pick<ProcessSnapshot, 'pid' | 'startTime' | 'comm' | 'cmdline'>>;
  problem: string | null;
}

interface TriggerFlags extends OutputOptions {
  host?: string;
}

async function runLs(opts: TriggerFlags): Promise<void> {
  const host = parseHost('--host', opts.host);
  const rules = loadRules();
  const { resolveTarget, scanProcesses } = triggersModule();
  const table = scanProcesses();
  const views: RuleView[] = [];
  for (const rule of rules.rules) {
    const m = await resolveTarget(rule.target, host, table);
    const t = rule.target;
    views.push({
      name: rule.name,
      target: t.kind === 'pid-file' ? { pidFile: t.pidFile } : t.kind === 'cmdline' ? { cmdline: t.pattern } : { cgroup: t.cgroup },
      events: rule.events,
      action: rule.action,
      policy: rule.policy,
      matches: m.processes.map((p) => ({ pid: p.pid, startTime: p.startTime, comm: p.comm, cmdline: p.cmdline })),
      problem: m.problem,
    });
  }
  emit(opts, { source: rules.source, host, rules: views }, (v) => {
    if (v.rules.length === 0) return `${v.source} has no rules`;
    const lines = [`trigger rules from ${v.source} (host ${v.host}):`];
    for (const [i, r] of v.rules.entries()) {
      const rule = rules.rules[i]!;
      lines.push(`  ${r.name}: ${actionText(rule)} of ${targetText(rule)} on ${r.events.join(', ')}`);
      if (r.matches.length === 0) lines.push(`    matches nothing now${r.problem ? ` (${r.problem})` : ''}`);
      for (const p of r.matches) lines.push(`    pid ${p.pid} (${p.comm}) ${p.cmdline.slice(0, 100)}`);
    }
    return lines.join('\n');
  });
}

interface TestFlags extends TriggerFlags {
  deadline?: string;
  event?: string;
  id?: string;
}

async function runTest(ruleName: string, opts: TestFlags): Promise<void> {
  const host = parseHost('--host', opts.host);
  const rules = loadRules();
  const t = triggersModule();
  const rule = t.findRule(rules, ruleName);
  if (typeof rule === 'string') throw new UsageError(rule);
  const event = (opts.event ?? rule.events[0]) as TriggerEvent;
  if (!t.TRIGGER_EVENTS.includes(event)) throw new UsageError(`--event must be one of ${t.TRIGGER_EVENTS.join(', ')}, got ${JSON.stringify(opts.event)}`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parseDeadline } = require('../workflows/deadline-plan') as typeof import('../workflows/deadline-plan');
  const deadlineMs = opts.deadline === undefined ? null : parseDeadline(opts.deadline);
  if (opts.deadline !== undefined && deadlineMs === null) throw new UsageError(`--deadline must be an ISO 8601 time with a zone, e.g. 2026-11-29T14:00:00Z, got ${JSON.stringify(opts.deadline)}`);
  const match = await t.resolveTarget(rule.target, host);
  if (match.processes.length === 0) throw new UsageError(`rule ${rule.name} matches no process on ${host} now${match.problem ? `: ${match.problem}` : ''}`);
  // By hand, each test is its own event unless --id names one (then repeating it starts nothing new).
  const id = opts.id ?? `test:${new Date().toISOString()}`;
  const hosts = rule.action.type === 'migrate' ? [host, rule.action.to] : [host];
  const fired = await withServedHosts(hosts, (ferry) =>
    t.fireRule({ ferry, host, rule, notice: { event, id, deadlineMs, detail: 'ferry triggers test' }, processes: match.processes }),
  );
  emit(opts, { rule: rule.name, event, fired }, (v) => v.fired.map((f: Fired) => `${f.detail}${f.workflowId ? `\n  follow it with \`ferry status ${f.workflowId}\`` : ''}`).join('\n'));
}

const hostOption = { flags: '--host <name>', help: "this host's name, as its `ferry worker --host` has it (default: this machine's hostname)" };

const TRIGGERS_COMMAND: CommandDef = {
  name: 'triggers',
  description: 'Event-driven checkpoints: the rules of FERRY_TRIGGERS (docs/triggers.md)',
  subcommands: [
    {
      name: 'ls',
      description: 'Show the trigger rules and which processes each matches right now',
      options: [hostOption, jsonOption()],
      action: (opts: TriggerFlags) => runLs(opts),
    },
    {
      name: 'test',
      description: "Fire a rule by hand: starts its workflow for each process it matches and prints the workflow id",
      args: [{ name: '<rule>', help: 'the rule name' }],
      options: [
        hostOption,
        { flags: '--event <event>', help: 'the event to play (default: the rule\'s first)' },
        { flags: '--deadline <time>', help: 'the event\'s deadline, ISO 8601 with a zone' },
        { flags: '--id <event-id>', help: 'the event\'s id: firing twice with the same id starts one workflow (default: a new id each time)' },
        jsonOption(),
      ],
      action: (rule: string, opts: TestFlags) => runTest(rule, opts),
    },
  ],
};

export function registerTriggerCommands(program: Command): void {
  addCommands(program, [TRIGGERS_COMMAND]);
}
