/**
 * One event, one workflow: the workflow id of what an event starts is a function of the rule, the
 * target process's identity (pid and start time, so a reused pid is another target) and the
 * event's own id. Started with Temporal's conflict policy USE_EXISTING and reuse policy
 * REJECT_DUPLICATE (client side, fire.ts), a repeated notice, a retried poll or a restarted worker
 * finds the workflow the first one started, running or finished, and never starts another.
 */
import { createHash } from 'node:crypto';
import { hostSlug, newCheckpointId } from '../core';
import type { TriggerEvent } from './rules';

/** What happened, when it must be dealt with by, and its id (stable across repeats of the same notice). */
export interface EventNotice {
  event: TriggerEvent;
  /** Stable for one occurrence: a notice's own id, a request's id, a shutdown's boot and worker. */
  id: string;
  /** Epoch ms by which the checkpoint must be stored, or null for none. */
  deadlineMs: number | null;
  /** Human-readable origin, e.g. "aws spot instance-action terminate". Never a secret. */
  detail: string;
}

export interface TargetIdentity {
  host: string;
  pid: number;
  startTime: number;
}

/** Short stable digest of an event id: ids come from outside and may hold any characters. */
export function eventKey(eventId: string): string {
  return createHash('sha256').update(eventId).digest('hex').slice(0, 16);
}

/** Every trigger workflow of one process starts with this; fire.ts finds a running one by it. */
export function processTriggerPrefix(t: TargetIdentity): string {
  return `ferry-trigger-${hostSlug(t.host)}-${t.pid}-${t.startTime}-`;
}

export function triggerWorkflowId(rule: string, t: TargetIdentity, notice: Pick<EventNotice, 'event' | 'id'>): string {
  return `${processTriggerPrefix(t)}${rule}-${notice.event}-${eventKey(notice.id)}`;
}

/** The checkpoint id is deterministic too: a retried start stores under the same id, never a second one. */
export function triggerCheckpointId(rule: string, t: TargetIdentity, notice: Pick<EventNotice, 'event' | 'id'>): string {
  return newCheckpointId(t.host, t.pid, eventKey(`${rule}\n${t.startTime}\n${notice.event}\n${notice.id}`));
}
