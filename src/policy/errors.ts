// Transitional: callers move to isError(err, Class) from src/core.
export * from '../core/errors/policy';
import { isError } from '../core/ferry-error';
import { PolicyRefused } from '../core/errors/policy';
export const isPolicyRefused = (e: unknown): e is PolicyRefused => isError(e, PolicyRefused);
