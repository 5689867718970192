/**
 * The CRIU flags for resources CRIU refuses by default, as the criu, runc and podman CLIs spell
 * them, shared by the tutorial commands (pre-dump, dump, restore) and the durable ones
 * (checkpoint, migrate).
 */
import { CRIU_OPTION_NAMES, type CriuOptions } from '../core/criu-options';
import type { OptionDef } from './command-table';

export const CRIU_RESOURCE_OPTIONS: OptionDef[] = [
  { flags: '--file-locks', help: 'dump file locks the process holds (flock, POSIX, OFD): CRIU refuses them otherwise' },
  { flags: '--tcp-established', help: 'dump established TCP connections; the peer sees a pause, not a reset' },
  { flags: '--ext-unix-sk', help: 'dump Unix sockets whose peer is outside the process tree' },
  { flags: '--link-remap', help: 'dump open files that were deleted or renamed (linked back while dumping)' },
];

/** On restore the same flags only add to what the dump recorded (which is applied anyway). */
export const CRIU_RESTORE_OPTIONS: OptionDef[] = CRIU_RESOURCE_OPTIONS.map((o) => ({
  ...o,
  help: `${o.help.split(':')[0]}; not needed when the dump was taken by ferry with it (its layer record says so)`,
}));

export type CriuOptionFlags = Pick<CriuOptions, (typeof CRIU_OPTION_NAMES)[number]>;

/** The options given on the command line (only those that are on), ready to spread into a request. */
export function criuOptionsFrom(opts: CriuOptionFlags): { criuOptions?: CriuOptions } {
  const on: CriuOptions = {};
  for (const name of CRIU_OPTION_NAMES) if (opts[name] === true) on[name] = true;
  return Object.keys(on).length > 0 ? { criuOptions: on } : {};
}
