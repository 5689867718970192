/**
 * Checks of the workflows' JSON inputs, by the rules of src/core/ids.ts (the same ones the CLI and
 * the layer store use). Each raises an InvalidInput failure that names the field and the value it
 * got, so a caller starting a workflow by hand sees what to fix.
 */
import { uuid4 } from '@temporalio/workflow';
import { CRIU_OPTION_NAMES, DEFAULT_PREFIX, checkCheckpointId, type CriuOptions, checkHostName, checkPid, checkTaskQueuePrefix, newCheckpointId as makeCheckpointId } from '../core';
import { invalidInput } from './failures';

/** How long a checkpoint waits for its parent's prefetch by default: the transfer activities' own limit. */
const DEFAULT_PREFETCH_WAIT_MS = 2 * 60 * 60 * 1000;

function checked<T>(value: unknown, field: string, problem: string | null): T {
  if (problem) throw invalidInput(`${field} ${problem}`);
  return value as T;
}

export function validatePid(pid: unknown, field = 'pid'): number {
  return checked(pid, field, checkPid(pid));
}

export function validateHost(host: unknown, field = 'host'): string {
  return checked(host, field, checkHostName(host));
}

export function validateCheckpointId(id: unknown): string {
  return checked(id, 'checkpointId', checkCheckpointId(id));
}

export function validatePrefix(prefix: unknown): string {
  if (prefix === undefined) return DEFAULT_PREFIX;
  return checked(prefix, 'taskQueuePrefix', checkTaskQueuePrefix(prefix));
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
  return makeCheckpointId(host, pid, uuid4());
}

/** CRIU resource options from a workflow input: an object of known names with boolean values. */
export function validateCriuOptions(value: unknown): CriuOptions | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidInput(`criuOptions must be an object like {"fileLocks": true}`);
  const on: CriuOptions = {};
  for (const [name, flag] of Object.entries(value as Record<string, unknown>)) {
    if (!(CRIU_OPTION_NAMES as readonly string[]).includes(name)) throw invalidInput(`criuOptions.${name} is not an option ferry passes to CRIU (known: ${CRIU_OPTION_NAMES.join(', ')})`);
    if (typeof flag !== 'boolean') throw invalidInput(`criuOptions.${name} must be true or false`);
    if (flag) on[name as keyof CriuOptions] = true;
  }
  return Object.keys(on).length > 0 ? on : undefined;
}
