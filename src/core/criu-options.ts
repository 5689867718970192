/**
 * Resources CRIU refuses to dump unless asked (its own flags of the same names). A restore needs
 * the ones its dump used: ferry records them in each layer and applies them on restore by itself.
 * Here, not in src/criu, because workflow inputs carry them and workflows validate them.
 */
export interface CriuOptions {
  /** File locks the process holds (flock, POSIX, OFD locks): criu --file-locks. */
  fileLocks?: boolean;
  /** Established TCP connections, restored in place (the peer sees a pause): criu --tcp-established. */
  tcpEstablished?: boolean;
  /** Unix sockets whose peer is outside the dumped tree: criu --ext-unix-sk. */
  extUnixSk?: boolean;
  /** Open files that were deleted or renamed, linked back at dump time: criu --link-remap. */
  linkRemap?: boolean;
}

export const CRIU_OPTION_NAMES = ['fileLocks', 'tcpEstablished', 'extUnixSk', 'linkRemap'] as const;
