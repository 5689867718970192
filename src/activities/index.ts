/**
 * ferry's activities: thin steps that wire the CRIU driver and the layer store together on one
 * host, heartbeat while they work, honour cancellation, and are safe to retry.
 *
 * Built by a factory that receives its dependencies (see deps.ts), so the worker passes the real
 * CRIU driver and S3 store while tests pass fakes. Workflows import only the type of the result.
 * The activity names are public API: they live in workflow histories.
 */
import { activityContext } from './context';
import type { ActivityDeps } from './deps';
import { directSteps } from './direct-steps';
import { dumpSteps } from './dump-steps';
import { hostSteps } from './host-steps';
import { restoreSteps } from './restore-steps';
import { transferSteps } from './transfer-steps';
import { warmChainSteps } from './warm-chain-steps';

export function createActivities(deps: ActivityDeps) {
  const ctx = activityContext(deps);
  return {
    ...hostSteps(ctx),
    ...dumpSteps(ctx),
    ...transferSteps(ctx),
    ...restoreSteps(ctx),
    ...warmChainSteps(ctx),
    ...directSteps(ctx),
  };
}

export type FerryActivities = ReturnType<typeof createActivities>;
export type { ActivityDeps, CriuPort, StorePort } from './deps';
