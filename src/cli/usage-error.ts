/** A command-line mistake: reported with the command's usage hint, exit code 2, nothing attempted. */
import { failureKind } from '../core/ferry-error';
export class UsageError extends failureKind('usage', { retryable: false }) {
}

