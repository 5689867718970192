/**
 * The record of what `ferry dev up` started, so that `down` stops exactly that and `status`
 * reports it. One JSON file under the dev dir, replaced atomically.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ComponentName } from './errors';
import { DevStackStateError } from './errors';
import type { ProcessRecord } from './process';

export interface ComponentRecord extends ProcessRecord {
  component: ComponentName;
  /** The command line (no secrets: those travel in the child's environment). */
  command: string[];
  /** Main address: Temporal gRPC host:port, MinIO S3 endpoint URL. */
  address: string;
  /** Web UI (Temporal) or console (MinIO) URL. */
  uiAddress: string;
  dataPath: string;
  logFile: string;
  startedAt: string;
}

export interface StackState {
  version: 1;
  components: Partial<Record<ComponentName, ComponentRecord>>;
}

export const STATE_FILE_NAME = 'stack.json';

export function stateFile(devDir: string): string {
  return path.join(devDir, STATE_FILE_NAME);
}

export function emptyState(): StackState {
  return { version: 1, components: {} };
}

function isRecord(value: unknown): value is ComponentRecord {
  const r = value as Partial<ComponentRecord> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    Number.isSafeInteger(r.pid) &&
    (r.pid ?? 0) > 0 &&
    Number.isSafeInteger(r.startTime) &&
    typeof r.bootId === 'string' &&
    (r.component === 'temporal' || r.component === 'minio') &&
    Array.isArray(r.command) &&
    typeof r.address === 'string' &&
    typeof r.uiAddress === 'string' &&
    typeof r.dataPath === 'string' &&
    typeof r.logFile === 'string'
  );
}

/** A state file's JSON, or DevStackStateError naming the file; its fields are for the caller to check. */
export function parseStateJson<T>(file: string, text: string): Partial<T> {
  try {
    return JSON.parse(text) as Partial<T>;
  } catch (err) {
    throw new DevStackStateError(file, 'is not valid JSON', { cause: err });
  }
}

export async function readState(devDir: string): Promise<StackState> {
  const file = stateFile(devDir);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    throw new DevStackStateError(file, `cannot be read (${(err as Error).message})`, { cause: err });
  }
  const s = parseStateJson<StackState>(file, text);
  if (s?.version !== 1 || typeof s.components !== 'object' || s.components === null) {
    throw new DevStackStateError(file, 'has an unknown format');
  }
  for (const [name, record] of Object.entries(s.components)) {
    if (!isRecord(record) || record.component !== name) throw new DevStackStateError(file, `has a malformed record for ${name}`);
  }
  return s as StackState;
}

export async function writeState(devDir: string, state: StackState): Promise<void> {
  await fs.mkdir(devDir, { recursive: true, mode: 0o700 });
  const file = stateFile(devDir);
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  await fs.rename(tmp, file);
}
