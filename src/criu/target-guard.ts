/**
 * The port through which the CRIU driver asks whether this host allows a step, before the step
 * touches anything. Whether a process may be dumped, or images kept somewhere, is the host's
 * decision, not CRIU's: the host policy (src/policy) implements this, and the worker and the CLI
 * hand it to the driver (DriverOptions.policy). criu/ never imports its implementations.
 */
import type { ImagedProcess } from './imaged-processes';
import type { DumpKind, ProcessIdentity } from './types';

/** The steps a guard is asked about. */
export type GuardedStep = DumpKind | 'restore';

export interface TargetGuard {
  /**
   * May `step` dump `target` and the tree CRIU dumps with it? The driver asks only once the
   * built-in refusals of process.ts (pid 1, kernel threads, ferry's own tree, a recycled pid)
   * have passed. Returns when allowed; throws the refusal otherwise.
   */
  checkProcess(step: DumpKind, target: ProcessIdentity): void;
  /**
   * May `step` write (dump) or read (restore) images in `dir`? `role` names the dir in a refusal
   * (default 'images dir'). Returns when allowed; throws the refusal otherwise.
   */
  checkImagesDir(step: GuardedStep, dir: string, role?: string): void;
  /**
   * May a restore bring back these processes (read from the final dump's images: who each would
   * run as, which executable)? Asked before CRIU runs. Returns when allowed; throws otherwise.
   */
  checkRestoredProcesses(processes: readonly ImagedProcess[]): void;
}
