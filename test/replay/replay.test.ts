/**
 * Replays workflow histories captured from real runs (test/replay/histories/*.json, recorded by
 * the pipeline integration tests with FERRY_CAPTURE_HISTORIES=1) against today's workflow code.
 * A failure here means a change to workflow code would break workflows already running: version
 * it (patched()) instead. One history is deliberately incompatible and must fail.
 *
 * incompatible/checkpoint-renamed-activity.json is a real checkpoint history whose first
 * scheduled activity was renamed (checkHost -> checkHostV0), standing in for a history written
 * by an older version of the workflow that called a different first step.
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { installTestRuntime, workflowBundle } from '../helpers/temporal';

const DIR = path.join(__dirname, 'histories');
const INCOMPATIBLE = path.join(__dirname, 'incompatible');

function load(file: string) {
  return historyFromJSON(JSON.parse(fs.readFileSync(file, 'utf8')));
}

let bundle: WorkflowBundle;
beforeAll(async () => {
  installTestRuntime();
  bundle = await workflowBundle();
}, 120000);

const histories = fs.existsSync(DIR) ? fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort() : [];

describe('replay of committed histories', () => {
  test('there are committed histories to replay', () => {
    expect(histories.length).toBeGreaterThanOrEqual(4);
  });

  test.each(histories)('%s replays against the current workflow code', async (file) => {
    await Worker.runReplayHistory({ workflowBundle: bundle, replayName: file }, load(path.join(DIR, file)), file);
  });

  test('an incompatible history fails to replay with a determinism violation', async () => {
    const file = path.join(INCOMPATIBLE, 'checkpoint-renamed-activity.json');
    const replay = Worker.runReplayHistory({ workflowBundle: bundle, replayName: 'incompatible' }, load(file), 'incompatible');
    // By class, not by text: the SDK reports a nondeterminism eviction as DeterminismViolationError
    // and every other replay failure (a workflow task that throws, an SDK problem) as ReplayError,
    // which must not pass for the incompatibility this history stands for.
    const err = await replay.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(DeterminismViolationError);
    expect(err).toMatchObject({ name: 'DeterminismViolationError' });
  });
});
