/**
 * Nightly pre-dumps: each run of a schedule adds one pre-dump layer to the process's warm chain,
 * so that a later checkpoint or migration (--from-warm) only dumps what changed since.
 *
 * `warmPreDump` is what a schedule starts (its workflow id is the schedule's, not the process's);
 * the pre-dump itself runs in the child `addWarmLayer` under the process's workflow id, so it can
 * never overlap a checkpoint, a migration or another warm run of the same process.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';
import { executeChild, workflowInfo } from '@temporalio/workflow';
import type { WarmChain } from '../activities/types';
import { invalidInput } from './failures';
import { hostActivities, probeHost } from './host-activities';
import { newCheckpointId, validateHost, validatePid, validatePrefix } from './input-validation';
import { parentRef, summarize } from './layers';
import { WARM_CHAIN_PREFIX, isValidScheduleId, processWorkflowId, workflowTaskQueue } from '../core';
import type { AddWarmLayerInput, WarmPreDumpInput, WarmPreDumpResult } from './types';

export const DEFAULT_MAX_CHAIN_LENGTH = 7;

/** Set by Temporal on every run a schedule starts. */
const SCHEDULED_BY = defineSearchAttributeKey('TemporalScheduledById', SearchAttributeType.KEYWORD);

/** The schedule a run belongs to: given in the input, else the one Temporal says started it. */
function scheduleOf(input: WarmPreDumpInput): string | undefined {
  if (input.scheduleId !== undefined) {
    if (!isValidScheduleId(input.scheduleId)) throw invalidInput(`scheduleId ${JSON.stringify(input.scheduleId)} is not a schedule id`);
    return input.scheduleId;
  }
  return workflowInfo().typedSearchAttributes.get(SCHEDULED_BY);
}

export async function warmPreDump(input: WarmPreDumpInput): Promise<WarmPreDumpResult> {
  if (typeof input !== 'object' || input === null) throw invalidInput('warmPreDump input must be a JSON object');
  const host = validateHost(input.host);
  const prefix = validatePrefix(input.taskQueuePrefix);
  if ((input.pid === undefined) === (input.pidFile === undefined)) {
    throw invalidInput('give exactly one of pid and pidFile');
  }
  if (input.pid !== undefined) validatePid(input.pid);
  if (input.pidFile !== undefined && (typeof input.pidFile !== 'string' || !input.pidFile.startsWith('/'))) {
    throw invalidInput(`pidFile must be an absolute path, got ${JSON.stringify(input.pidFile)}`);
  }
  const maxChainLength = input.maxChainLength ?? DEFAULT_MAX_CHAIN_LENGTH;
  if (!Number.isInteger(maxChainLength) || maxChainLength < 1 || maxChainLength > 100) {
    throw invalidInput(`maxChainLength must be an integer from 1 to 100, got ${JSON.stringify(maxChainLength)}`);
  }
  const scheduleId = scheduleOf(input);
  const acts = hostActivities(prefix, host);
  const caps = await probeHost(acts, prefix, host);
  const pid = input.pid ?? (await acts.resolvePid({ pidFile: input.pidFile }));
  const skipped = (reason: string): WarmPreDumpResult => ({
    host,
    pid,
    outcome: 'skipped',
    reason,
    chainCheckpointId: null,
    chainLength: 0,
    newChain: false,
    layer: null,
  });
  if (!caps.features.memTrack) {
    return skipped(
      `kernel ${caps.kernel} on host ${host} cannot track dirty memory (no soft-dirty), so a pre-dump is impossible; ` +
        'nothing was dumped. Checkpoints of this process take a single full dump',
    );
  }
  try {
    return await executeChild(addWarmLayer, {
      workflowId: processWorkflowId(host, pid),
      taskQueue: workflowTaskQueue(prefix),
      args: [{ host, pid, maxChainLength, taskQueuePrefix: prefix, ...(scheduleId !== undefined ? { scheduleId } : {}) }],
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return skipped(`another checkpoint or pre-dump of pid ${pid} on ${host} is running (${processWorkflowId(host, pid)})`);
    }
    throw err;
  }
}

export async function addWarmLayer(input: AddWarmLayerInput): Promise<WarmPreDumpResult> {
  const host = validateHost(input.host);
  const pid = validatePid(input.pid);
  const acts = hostActivities(validatePrefix(input.taskQueuePrefix), host);
  const identity = await acts.identifyProcess({ pid });
  const lookup = await acts.readWarmChain({ pid, identity });
  let chain: WarmChain | null = lookup.chain;
  let reason: string;
  if (chain && chain.layers.length >= input.maxChainLength) {
    reason = `the warm chain ${chain.checkpointId} reached ${chain.layers.length} layers (max ${input.maxChainLength}); started a new chain`;
    chain = null;
  } else if (chain) {
    reason = `added layer ${chain.layers.length} to warm chain ${chain.checkpointId}`;
  } else {
    reason = {
      none: 'no warm chain yet; started one',
      'process-changed': `pid ${pid} is now a different process than the warm chain's; started a new chain`,
      'layers-missing': 'the warm chain\'s local layers are gone; started a new chain',
      found: 'started a new chain',
    }[lookup.status];
  }
  const newChain = chain === null;
  const current: WarmChain = chain ?? {
    checkpointId: `${WARM_CHAIN_PREFIX}${newCheckpointId(host, pid)}`,
    process: identity,
    layers: [],
    records: [],
  };
  const scheduleIds = [...(current.scheduleIds ?? [])];
  if (input.scheduleId !== undefined && !scheduleIds.includes(input.scheduleId)) scheduleIds.push(input.scheduleId);
  const last = current.layers[current.layers.length - 1];
  const dump = await acts.preDumpLayer({
    checkpointId: current.checkpointId,
    index: current.layers.length,
    pid,
    expectedIdentity: identity,
    parent: last ? parentRef(last) : null,
  });
  const up = await acts.uploadLayer({ checkpointId: current.checkpointId, layer: dump });
  const updated: WarmChain = { ...current, layers: [...current.layers, dump], records: [...current.records, up.record], scheduleIds };
  // A chain of pre-dumps only: its manifest stays incomplete (nothing to restore from it alone).
  // It names its schedules, so that gc keeps it while one of them exists.
  await acts.commitCheckpoint({ checkpointId: current.checkpointId, layers: updated.records, baseLayers: [], warm: { scheduleIds } });
  await acts.recordWarmChain({ chain: updated });
  if (newChain && lookup.chain) {
    // The old chain's local images are no longer a parent of anything new; stored layers stay
    // (checkpoints may build on them).
    await acts.discardCheckpoint({ checkpointId: lookup.chain.checkpointId, deleteStored: false });
  }
  return {
    host,
    pid,
    outcome: 'added',
    reason,
    chainCheckpointId: updated.checkpointId,
    chainLength: updated.layers.length,
    newChain,
    layer: summarize(dump, up.durationMs),
  };
}
