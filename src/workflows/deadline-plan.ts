/**
 * Fitting a checkpoint to an event's deadline (a spot notice's termination time, a shutdown's
 * grace period, a request's `deadline`). Pure: times come in as numbers, so the workflow and the
 * code that fires events use the same rule.
 *
 * The final dump and its upload need `reserveMs` before the deadline. Pre-dumps (and catch-up
 * rounds) are taken only while more than that is left; with less, the final dump comes at once.
 * A deadline already past, or closer than the reserve, is reported when the event arrives, not
 * discovered after the upload.
 */
import type { ConvergencePolicy } from './convergence-policy';

export interface DeadlinePlan {
  deadlineMs: number;
  /** Time left when the plan was made (negative: already past). */
  remainingMs: number;
  /** 'ok': time for pre-dumps; 'tight': only for the final dump, maybe; 'past': cannot be met. */
  outlook: 'ok' | 'tight' | 'past';
  /** Pre-dumps and catch-ups allowed by the deadline. */
  preDumps: boolean;
  detail: string;
}

export const DEFAULT_DEADLINE_RESERVE_MS = 30_000;

export function planForDeadline(deadlineMs: number, nowMs: number, reserveMs: number = DEFAULT_DEADLINE_RESERVE_MS): DeadlinePlan {
  const remainingMs = deadlineMs - nowMs;
  if (remainingMs <= 0) {
    return { deadlineMs, remainingMs, outlook: 'past', preDumps: false, detail: `the deadline passed ${-remainingMs} ms ago: it cannot be met; taking the final dump at once` };
  }
  if (remainingMs <= reserveMs) {
    return {
      deadlineMs,
      remainingMs,
      outlook: 'tight',
      preDumps: false,
      detail: `${remainingMs} ms to the deadline, no more than the ${reserveMs} ms the final dump and its upload are given: no pre-dumps, final dump at once; the deadline may be missed`,
    };
  }
  return { deadlineMs, remainingMs, outlook: 'ok', preDumps: true, detail: `${remainingMs} ms to the deadline: pre-dumps while more than ${reserveMs} ms are left` };
}

/** The policy a deadline leaves: no pre-dumps or catch-ups unless there is time for them. */
export function policyForDeadline(policy: ConvergencePolicy, plan: DeadlinePlan): ConvergencePolicy {
  if (plan.preDumps) return policy;
  return { ...policy, maxPreDumps: 0, maxCatchUps: 0, requirePreDumps: false };
}

/** What the result says about the deadline: stored in time or not, and by how much. */
export interface DeadlineOutcome {
  deadline: string;
  /** Workflow time at which the checkpoint was committed (epoch ms). */
  storedAtMs: number;
  met: boolean;
  /** deadline - storedAt: positive = stored this long before it, negative = this long after. */
  marginMs: number;
  /** The plan made at the start. */
  outlook: DeadlinePlan['outlook'];
  detail: string;
}

export function deadlineOutcome(plan: DeadlinePlan, storedAtMs: number): DeadlineOutcome {
  const marginMs = plan.deadlineMs - storedAtMs;
  return {
    deadline: new Date(plan.deadlineMs).toISOString(),
    storedAtMs,
    met: marginMs >= 0,
    marginMs,
    outlook: plan.outlook,
    detail: marginMs >= 0 ? `stored ${marginMs} ms before the deadline` : `stored ${-marginMs} ms after the deadline`,
  };
}

/** An ISO 8601 time with a zone (what `deadline` takes), as epoch ms; null when it is not one. */
export function parseDeadline(value: unknown): number | null {
  if (typeof value !== 'string' || value.length > 64) return null;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}
