/**
 * Activities that look at the host and the process before anything is dumped: what CRIU and the
 * kernel can do, who the process is and how big, which pid a schedule's pid file names.
 */
import type { ProcessIdentity } from '../criu/types';
import { mapped, type ActivityContext } from './context';
import { readPidFile } from './pid-file';
import type { HostCapabilities, ProcessMeasure, ResolvePidInput } from './types';

export function hostSteps({ deps, rates }: ActivityContext) {
  return {
    async checkHost(): Promise<HostCapabilities> {
      return mapped(async () => {
        const check = await deps.criu.check();
        return { host: deps.host, criuVersion: check.version, features: check.features, kernel: deps.kernel, pageSize: deps.pageSize };
      });
    },

    async identifyProcess(input: { pid: number }): Promise<ProcessIdentity> {
      return mapped(() => deps.criu.identify(input.pid));
    },

    /** What the convergence policy needs before the first dump: the process's size, the host's rates. */
    async measureProcess(input: { pid: number }): Promise<ProcessMeasure> {
      return mapped(async () => ({
        residentBytes: deps.criu.dumpableBytes ? await deps.criu.dumpableBytes(input.pid) : null,
        hostRates: rates.current(),
      }));
    },

    async resolvePid(input: ResolvePidInput): Promise<number> {
      return mapped(async () => (input.pid !== undefined ? input.pid : readPidFile(input.pidFile ?? '', deps.host)));
    },
  };
}
