/**
 * The rules for every name ferry makes or accepts: checkpoint ids, host names, task-queue
 * prefixes, schedule ids. One rule per concept, used by the CLI, the workflows and the layer store
 * alike, so a name one of them accepts is never refused by another.
 *
 * Each `check*` returns null when the value is fine, or the problem in words that fit after the
 * name of the field or flag (`--checkpoint-id must be ...`): callers choose the error class
 * (UsageError, InvalidInput, LocalLayerInvalid...), the words stay the same everywhere.
 */

/** The default of FERRY_TASK_QUEUE_PREFIX and FERRY_S3_PREFIX: ferry's queues and keys. */
export const DEFAULT_PREFIX = 'ferry';

// Ids end up in S3 keys, directory names, workflow ids and task-queue names: a safe alphabet,
// no leading dot or dash, and never a `..` that could climb out of a directory.
const CHECKPOINT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const TASK_QUEUE_PREFIX = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SCHEDULE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export const CHECKPOINT_ID_RULE = '1-128 characters of letters, digits, . _ - starting with a letter or digit';
export const HOST_NAME_RULE = 'a host name of letters, digits, . _ - (as given to `ferry worker --host`)';
export const TASK_QUEUE_PREFIX_RULE = '1-64 chars of letters, digits, . _ -';
export const SCHEDULE_ID_RULE = '1-100 chars of letters, digits, . _ -';

function quoted(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

export function isValidCheckpointId(id: unknown): id is string {
  return typeof id === 'string' && CHECKPOINT_ID.test(id) && !id.includes('..');
}

export function checkCheckpointId(id: unknown): string | null {
  return isValidCheckpointId(id) ? null : `must be ${CHECKPOINT_ID_RULE}, got ${quoted(id)}`;
}

export function isValidHostName(host: unknown): host is string {
  return typeof host === 'string' && HOST_NAME.test(host) && !host.includes('..');
}

export function checkHostName(host: unknown): string | null {
  return isValidHostName(host) ? null : `must be ${HOST_NAME_RULE}, got ${quoted(host)}`;
}

export function isValidTaskQueuePrefix(prefix: unknown): prefix is string {
  return typeof prefix === 'string' && TASK_QUEUE_PREFIX.test(prefix);
}

export function checkTaskQueuePrefix(prefix: unknown): string | null {
  return isValidTaskQueuePrefix(prefix) ? null : `must be ${TASK_QUEUE_PREFIX_RULE}, got ${quoted(prefix)}`;
}

export function isValidScheduleId(id: unknown): id is string {
  return typeof id === 'string' && SCHEDULE_ID.test(id);
}

/** A pid ferry may act on: a whole number above 1 (pid 1 is init, 0 and negatives are not pids). */
export function checkPid(pid: unknown): string | null {
  return typeof pid === 'number' && Number.isSafeInteger(pid) && pid > 1
    ? null
    : `must be a process id (an integer greater than 1), got ${quoted(pid)}`;
}

/** A host name lowered to the id alphabet, for ids made from it. */
export function hostSlug(host: string): string {
  return host.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
}

/**
 * A new checkpoint id: `<host slug>-<pid>-<8 hex>`. The caller brings the randomness (uuid4() in
 * workflow code, randomUUID() elsewhere), so this stays pure and deterministic in workflows.
 */
export function newCheckpointId(host: string, pid: number, uuid: string): string {
  return `${hostSlug(host)}-${pid}-${uuid.replace(/-/g, '').slice(0, 8)}`;
}

/**
 * Warm chains (a schedule's nightly pre-dumps) are stored under `warm-<checkpoint id>`. Manifests
 * written since issue 18 also say so in their `warm` field; the prefix is how gc recognises the
 * chains written before that.
 */
export const WARM_CHAIN_PREFIX = 'warm-';
