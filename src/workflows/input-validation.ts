/**
 * Checks of the workflows' JSON inputs. Each raises an InvalidInput failure that names the field
 * and the value it got, so a caller starting a workflow by hand sees what to fix.
 */
import { uuid4 } from '@temporalio/workflow';
import { invalidInput } from './failures';
import { isValidHostName } from './names';

/** How long a checkpoint waits for its parent's prefetch by default: the transfer activities' own limit. */
const DEFAULT_PREFETCH_WAIT_MS = 2 * 60 * 60 * 1000;

export const DEFAULT_TASK_QUEUE_PREFIX = 'ferry';
const CHECKPOINT_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;

export function validatePid(pid: unknown, field = 'pid'): number {
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 1) {
    throw invalidInput(`${field} must be a process id (an integer greater than 1), got ${JSON.stringify(pid)}`);
  }
  return pid;
}

export function validateHost(host: unknown, field = 'host'): string {
  if (!isValidHostName(host)) {
    throw invalidInput(`${field} must be a host name of letters, digits, . _ - (as given to \`ferry worker --host\`), got ${JSON.stringify(host)}`);
  }
  return host;
}

export function validateCheckpointId(id: unknown): string {
  if (typeof id !== 'string' || !CHECKPOINT_ID_PATTERN.test(id)) {
    throw invalidInput(`checkpointId must be 1-128 chars of a-z 0-9 . _ - starting with a letter or digit, got ${JSON.stringify(id)}`);
  }
  return id;
}

export function validatePrefix(prefix: unknown): string {
  if (prefix === undefined) return DEFAULT_TASK_QUEUE_PREFIX;
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(prefix)) {
    throw invalidInput(`taskQueuePrefix must be 1-64 chars of letters, digits, . _ -, got ${JSON.stringify(prefix)}`);
  }
  return prefix;
}

export function validatePrefetchWait(ms: unknown): number {
  if (ms === undefined) return DEFAULT_PREFETCH_WAIT_MS;
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 1) {
    throw invalidInput(`prefetchWaitLimitMs must be a positive whole number of milliseconds, got ${JSON.stringify(ms)}`);
  }
  return ms;
}

/** Generated ids are deterministic in workflow code (uuid4 is seeded by the run). */
export function newCheckpointId(host: string, pid: number): string {
  const safeHost = host.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
  return `${safeHost}-${pid}-${uuid4().slice(0, 8)}`;
}
