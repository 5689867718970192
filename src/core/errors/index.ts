/**
 * The failure catalogue: every kind that can cross the activity or workflow boundary, and the
 * tables derived from what each class declares. Nothing here is written twice: add a class to
 * its domain file and its list, and the failure type, the kind lookup and the non-retryable list
 * follow.
 */
import { failureTypeOf, type FerryErrorClass } from '../ferry-error';
import { CRIU_ERRORS } from './criu';
import { HOST_ERRORS } from './host';
import { PolicyRefused } from './policy';
import { STORAGE_ERRORS } from './storage';
import { WORKFLOW_ERRORS } from './workflow';

export * from './criu';
export * from './host';
export * from './policy';
export * from './storage';
export * from './workflow';

/** Every error class whose kind may appear as a Temporal failure type. */
export const FAILURE_CATALOGUE: readonly FerryErrorClass[] = [
  ...CRIU_ERRORS,
  PolicyRefused,
  ...STORAGE_ERRORS,
  ...HOST_ERRORS,
  ...WORKFLOW_ERRORS,
];

const CLASS_BY_NAME: ReadonlyMap<string, FerryErrorClass> = new Map(FAILURE_CATALOGUE.map((cls) => [cls.name, cls]));

/**
 * The catalogued class of an error, or null for anything else. Goes by `name`, so it also works on
 * errors that crossed a serialisation boundary (Temporal failures and JSON keep it).
 */
export function catalogued(err: unknown): FerryErrorClass | null {
  const name = typeof err === 'object' && err !== null ? (err as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? (CLASS_BY_NAME.get(name) ?? null) : null;
}

/** The stable kind of a catalogued error, or null for anything else. */
export function errorKind(err: unknown): string | null {
  return catalogued(err)?.kind ?? null;
}

/**
 * Failure types no retry can fix without a person changing something. Activities already raise
 * them as non-retryable; the workflows' retry policies list them too, so a failure of one of these
 * types is never retried even if it arrives without the nonRetryable flag.
 */
export const PERMANENT_FAILURE_TYPES: readonly string[] = FAILURE_CATALOGUE.filter((cls) => !cls.retryable).map((cls) => failureTypeOf(cls.kind));

/**
 * The failure types by camel-cased kind (`FAILURE_TYPES.noSuchProcess === 'NoSuchProcess'`), for
 * programs that branch on a workflow's failure type.
 */
export const FAILURE_TYPES: Readonly<Record<string, string>> = Object.fromEntries(
  FAILURE_CATALOGUE.map((cls) => [cls.kind.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), failureTypeOf(cls.kind)]),
);
