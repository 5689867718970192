/** Why a worker could not start: its setup is wrong or what it needs is not there. */
import { failureKind } from '../core/ferry-error';

export class WorkerSetupError extends failureKind('worker-setup-failed', { retryable: false }) {
}
