/**
 * Activities that look at the host and the process before anything is dumped: what CRIU and the
 * kernel can do, who the process is, which pid a schedule's pid file names.
 */
import fs from 'node:fs/promises';
import type { ProcessIdentity } from '../criu/types';
import { mapped, type ActivityContext } from './context';
import { PidFileUnreadable } from '../core';
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
        hostRates: { ...rates },
      }));
    },

    async resolvePid(input: ResolvePidInput): Promise<number> {
      return mapped(async () => {
        if (input.pid !== undefined) return input.pid;
        const file = input.pidFile ?? '';
        let text: string;
        try {
          text = await fs.readFile(file, 'utf8');
        } catch (err) {
          throw new PidFileUnreadable(`cannot read pid file ${file} on host ${deps.host}: ${(err as Error).message}; check the schedule's --pid-file`);
        }
        const pid = Number(text.trim());
        if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(pid) || pid <= 1) {
          throw new PidFileUnreadable(`pid file ${file} on host ${deps.host} does not hold a pid (got ${JSON.stringify(text.trim().slice(0, 40))})`);
        }
        return pid;
      });
    },
  };
}
