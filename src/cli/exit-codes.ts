/**
 * Exit codes of the `ferry` command, stable for scripts:
 * a usage error is the caller's to fix, a failure is the operation's (CRIU, storage, Temporal).
 */
export const EXIT_OK = 0;
/** The operation was attempted and failed (CRIU refused, storage unreachable, workflow failed). */
export const EXIT_FAILURE = 1;
/** Bad flags or arguments; nothing was attempted. */
export const EXIT_USAGE = 2;
/** A bug in ferry itself. */
export const EXIT_INTERNAL = 70;
/** Invalid configuration (environment); nothing was attempted. */
export const EXIT_CONFIG = 78;
