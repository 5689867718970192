/**
 * Failures of the host activities' own making (src/activities), outside CRIU and storage.
 */
import { failureKind } from '../ferry-error';

/** A schedule's pid file could not be read or does not hold a pid. */
export class PidFileUnreadable extends failureKind('pid-file-unreadable', { retryable: false }) {
}

/** A path handed to an activity lies outside the host's staging dir: never touched. */
export class OutsideStaging extends failureKind('outside-staging', { retryable: false }) {
}

export const HOST_ERRORS = [PidFileUnreadable, OutsideStaging] as const;
