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

/**
 * The direct link between two hosts' workers failed (refused, unreachable, not authenticated, cut
 * off, or the peer refused what it was sent). Not retried: a migration then takes the store path.
 */
export class DirectTransferFailed extends failureKind('direct-transfer-failed', { retryable: false }) {
}

/** The staging disk cannot hold the dump about to be taken: refused before CRIU runs (activities/staging-space.ts). */
export class StagingSpaceLow extends failureKind('staging-space-low', { retryable: false }) {
}

/**
 * A post-copy migration's lazy dump failed on the source (before its page server had served every
 * page, or before the target had its images). CRIU resumes the process on the source then.
 */
export class LazyDumpFailed extends failureKind('lazy-dump-failed', { retryable: false }) {
}

export const HOST_ERRORS = [PidFileUnreadable, OutsideStaging, DirectTransferFailed, StagingSpaceLow, LazyDumpFailed] as const;
