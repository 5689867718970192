/**
 * Workflow outcomes as metrics: how many checkpoints, migrations and restores ended how, the
 * downtime users saw, and the length of the chains restores have to read. Emitted through the
 * workflow metric meter, which the SDK skips during replay, so a metric never counts twice and
 * never changes what a workflow does.
 */
import { isCancellation, metricMeter } from '@temporalio/workflow';

export type WorkflowKind = 'checkpoint' | 'migrate' | 'restore';

function outcomeOf(err: unknown): 'failed' | 'cancelled' {
  return isCancellation(err) ? 'cancelled' : 'failed';
}

/** Runs `body`, counting its end in ferry_workflows{workflow, outcome}; `onResult` records what a success measured. */
export async function withOutcomeMetric<T>(workflow: WorkflowKind, body: () => Promise<T>, onResult?: (result: T) => void): Promise<T> {
  const ends = metricMeter.createCounter('ferry_workflows', 'workflows', 'checkpoint, migrate and restore workflows, by how they ended');
  let result: T;
  try {
    result = await body();
  } catch (err) {
    ends.add(1, { workflow, outcome: outcomeOf(err) });
    throw err;
  }
  ends.add(1, { workflow, outcome: 'completed' });
  onResult?.(result);
  return result;
}

export function recordChainLength(workflow: WorkflowKind, layers: number): void {
  metricMeter.createHistogram('ferry_chain_layers', 'int', '', 'layers in the chain a checkpoint stored or a restore read').record(layers, { workflow });
}

export function recordDowntime(workflow: WorkflowKind, ms: number): void {
  metricMeter.createHistogram('ferry_downtime', 'float', 'ms', 'from the final freeze until the process ran again (migrations) or was stored (checkpoints)').record(ms, { workflow });
}
