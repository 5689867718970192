/**
 * Firing a rule for one event: for each process the rule's target matches, start the rule's
 * workflow under the event's deterministic id (event-ids.ts), or, when a checkpoint of that
 * process already runs, join it and tell it to dump now once the event's deadline requires it.
 *
 * The plan for each process (planFiring) is pure; fireRule carries it out with a FerryClient.
 */
import { randomUUID } from 'node:crypto';
import type { FerryClient } from '../client';
import type { CheckpointInput, MigrateInput } from '../workflows/types';
import type { ConvergencePolicy } from '../workflows/convergence-policy';
import { planForDeadline, type DeadlinePlan } from '../workflows/deadline-plan';
import { processTriggerPrefix, triggerCheckpointId, triggerWorkflowId, type EventNotice, type TargetIdentity } from './event-ids';
import type { ProcessSnapshot } from './match';
import type { TriggerRule } from './rules';

/** What firing a rule did for one matched process. */
export interface Fired {
  rule: string;
  pid: number;
  startTime: number;
  /** started: a new workflow; existing: this event's workflow was already there (running or done);
   *  joined: another checkpoint of the process runs, this event joined it; none: nothing to act on. */
  outcome: 'started' | 'existing' | 'joined' | 'none';
  workflowId: string | null;
  /** Whether a dumpNow signal was sent (joined or dump-now action). */
  dumpNowSent: boolean;
  /** Epoch ms at which a dumpNow is due for a joined run whose deadline is further away (the caller may schedule it). */
  dumpNowDueMs: number | null;
  deadline: DeadlinePlan | null;
  detail: string;
}

/** The workflow input a rule starts for one process and event. */
export function workflowInput(rule: TriggerRule, host: string, target: TargetIdentity, notice: EventNotice): { type: 'checkpoint' | 'migrate'; input: CheckpointInput | MigrateInput } | null {
  const policy: Partial<ConvergencePolicy> = {};
  if (rule.policy.preDumps !== undefined) policy.maxPreDumps = rule.policy.preDumps;
  if (rule.policy.maxDowntimeMs !== undefined) policy.maxDowntimeMs = rule.policy.maxDowntimeMs;
  const checkpointId = triggerCheckpointId(rule.name, target, notice);
  if (rule.action.type === 'checkpoint') {
    const input: CheckpointInput = { host, pid: target.pid, policy, leaveRunning: rule.policy.leaveRunning, checkpointId };
    if (notice.deadlineMs !== null) {
      input.deadline = new Date(notice.deadlineMs).toISOString();
      input.deadlineReserveMs = rule.policy.finalReserveMs;
    }
    return { type: 'checkpoint', input };
  }
  if (rule.action.type === 'migrate') return { type: 'migrate', input: { pid: target.pid, from: host, to: rule.action.to, policy, checkpointId } };
  return null;
}

/** Whether a running checkpoint must be told to dump now for an event (its deadline is within the reserve), and otherwise when. */
export function dumpNowTiming(rule: TriggerRule, notice: EventNotice, nowMs: number): { now: boolean; dueMs: number | null } {
  if (rule.action.type === 'dump-now') return { now: true, dueMs: null };
  if (notice.deadlineMs === null) return { now: false, dueMs: null };
  const dueMs = notice.deadlineMs - rule.policy.finalReserveMs;
  return dueMs <= nowMs ? { now: true, dueMs: null } : { now: false, dueMs };
}

export interface FireOptions {
  ferry: FerryClient;
  host: string;
  rule: TriggerRule;
  notice: EventNotice;
  processes: readonly ProcessSnapshot[];
  now?: () => number;
}

/** Fires `rule` for `notice` on each matched process; never starts two workflows for one (rule, process, event). */
export async function fireRule(opts: FireOptions): Promise<Fired[]> {
  const { ferry, host, rule, notice } = opts;
  const now = opts.now ?? Date.now;
  const out: Fired[] = [];
  for (const p of opts.processes) {
    const target: TargetIdentity = { host, pid: p.pid, startTime: p.startTime };
    const deadline = notice.deadlineMs === null ? null : planForDeadline(notice.deadlineMs, now(), rule.policy.finalReserveMs);
    const base = { rule: rule.name, pid: p.pid, startTime: p.startTime, dumpNowSent: false, dumpNowDueMs: null, deadline };
    const workflowId = triggerWorkflowId(rule.name, target, notice);
    const running = await ferry.runningDumpOf(host, p.pid, processTriggerPrefix(target));
    if (running !== null && running !== workflowId) {
      const timing = dumpNowTiming(rule, notice, now());
      if (timing.now) await ferry.dumpNow(running);
      out.push({
        ...base,
        outcome: 'joined',
        workflowId: running,
        dumpNowSent: timing.now,
        dumpNowDueMs: timing.dueMs,
        detail: timing.now ? `a checkpoint of pid ${p.pid} was running; told it to dump now` : `a checkpoint of pid ${p.pid} was running; it goes on${timing.dueMs !== null ? ` (dump now due at ${new Date(timing.dueMs).toISOString()})` : ''}`,
      });
      continue;
    }
    const start = workflowInput(rule, host, target, notice);
    if (start === null) {
      out.push({ ...base, outcome: 'none', workflowId: null, detail: `no checkpoint of pid ${p.pid} is running: nothing to tell to dump now` });
      continue;
    }
    const memo = { checkpointId: start.input.checkpointId, host, pid: p.pid, rule: rule.name, event: notice.event, startRequest: randomUUID() };
    const r = await ferry.startOnce(start.type, workflowId, start.input, memo);
    const late = deadline && deadline.outlook !== 'ok' ? `; ${deadline.detail}` : '';
    out.push({
      ...base,
      outcome: r.started ? 'started' : 'existing',
      workflowId: r.workflowId,
      detail: `${r.started ? 'started' : 'already started for this event:'} ${start.type} of pid ${p.pid} as ${r.workflowId}${late}`,
    });
  }
  return out;
}
