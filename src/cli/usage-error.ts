/** A command-line mistake: reported with the command's usage hint, exit code 2, nothing attempted. */
import { FerryError, isError } from '../core/ferry-error';
export class UsageError extends FerryError {
  static override readonly kind = 'usage';
  static override readonly retryable = false;
}

export const isUsageError = (err: unknown): err is UsageError => isError(err, UsageError);
