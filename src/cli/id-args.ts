/**
 * The CLI's reading of ids and names given as flags or arguments, by the rules of src/core/ids.ts
 * (the same rules the workflows and the layer store apply), so a name one accepts the others
 * accept too. Bad values are usage errors; long values are shortened in the message.
 */
import os from 'node:os';
import { CHECKPOINT_ID_RULE, HOST_NAME_RULE, SCHEDULE_ID_RULE, isValidCheckpointId, isValidHostName, isValidScheduleId } from '../core/ids';
import { quoted } from './output';
import { UsageError } from './usage-error';

/** A checkpoint id; `what` names it in the message (`checkpoint id`, `--checkpoint-id`). */
export function parseCheckpointId(raw: string, what = 'checkpoint id'): string {
  if (!isValidCheckpointId(raw)) throw new UsageError(`${what} ${quoted(raw)} is not valid: use ${CHECKPOINT_ID_RULE}`);
  return raw;
}

/** A host name as `ferry worker --host` takes it; this machine's hostname when not given. */
export function parseHost(flag: string, raw: string | undefined): string {
  const host = raw ?? os.hostname();
  if (!isValidHostName(host)) throw new UsageError(`${flag} must be ${HOST_NAME_RULE}, got ${quoted(host)}`);
  return host;
}

export function parseScheduleId(name: string): string {
  if (!isValidScheduleId(name)) throw new UsageError(`schedule name must be ${SCHEDULE_ID_RULE}, got ${quoted(name)}`);
  return name;
}
