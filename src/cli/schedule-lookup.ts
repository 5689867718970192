/**
 * gc's answer to "which of these schedules exist?", asked of Temporal. Each schedule is described
 * by id rather than found in a listing: a listing comes from Temporal's visibility store, which
 * may still show a schedule just deleted or miss one just created; a describe is exact.
 */
import type { FerryConfig } from '../config/config';
import { isError } from '../core/ferry-error';
import type { ScheduleLookup } from '../storage';

export function temporalScheduleLookup(config: FerryConfig): ScheduleLookup {
  return {
    source: `Temporal at ${config.temporal.address} (namespace ${config.temporal.namespace})`,
    async existing(scheduleIds: string[]): Promise<Set<string>> {
      // The Temporal client loads in about a second: only a gc that found warm chains pays for it.
      const { FerryClient, NoSuchScheduleError } = await import('../client');
      const ferry = await FerryClient.connect(config);
      try {
        const found = new Set<string>();
        for (const id of scheduleIds) {
          try {
            await ferry.describeSchedule(id);
            found.add(id);
          } catch (err) {
            if (!isError(err, NoSuchScheduleError)) throw err;
          }
        }
        return found;
      } finally {
        await ferry.close();
      }
    },
  };
}
