/**
 * A store off this machine and no encryption key: `ferry worker` (with activities) and `ferry push`
 * refuse before touching anything, and say how to go on; allowed explicitly, the worker warns.
 * Nothing here reaches the store: the refusal comes first. Run `npm run build` first.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FERRY_BIN } from '../helpers/pipeline-harness';
import { until } from '../helpers/until';

const state = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-unenc-'));
afterAll(() => fs.rmSync(state, { recursive: true, force: true }));

// A root worker needs a host policy before anything else is looked at.
const policy = path.join(state, 'policy.json');
fs.writeFileSync(policy, JSON.stringify({ version: 1, processes: { uids: 'any' } }));

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, FERRY_STATE_DIR: state, FERRY_S3_ENDPOINT: 'https://s3.store.invalid', FERRY_HOST_POLICY: policy, ...extra };
  return e;
}

test('ferry worker refuses to start against a remote store without a key, before connecting anywhere', () => {
  const r = spawnSync(process.execPath, [FERRY_BIN, 'worker', '--host', 'unenc-1', '--no-workflows'], { env: env({}), encoding: 'utf8', timeout: 60_000 });
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/the store s3\.store\.invalid is not on this machine and no encryption key is configured.*FERRY_ENCRYPTION_KEY_FILE.*FERRY_S3_ALLOW_UNENCRYPTED=true/);
  expect(r.stderr).not.toMatch(/cannot reach Temporal/);
  expect(fs.existsSync(path.join(state, 'staging'))).toBe(false);
});

test('ferry push refuses the same way, and a workflow-only worker does not care', async () => {
  const dir = fs.mkdtempSync(path.join(state, 'images-'));
  const push = spawnSync(process.execPath, [FERRY_BIN, 'push', dir, '--checkpoint', 'unenc-push'], { env: env({}), encoding: 'utf8', timeout: 60_000 });
  expect(push.status).toBe(78);
  expect(push.stderr).toMatch(/no encryption key is configured/);
  // Workflow code holds no images: it goes on to connect (and gives up there, no Temporal at this address).
  const wf = spawnSync(process.execPath, [FERRY_BIN, 'worker', '--no-activities', '--connect-timeout', '1s'], { env: env({ FERRY_TEMPORAL_ADDRESS: '127.0.0.1:1' }), encoding: 'utf8', timeout: 60_000 });
  expect(wf.stderr).toMatch(/cannot reach Temporal/);
});

test('allowed explicitly, the worker warns at once and goes on', async () => {
  const child = spawn(process.execPath, [FERRY_BIN, 'worker', '--host', 'unenc-2', '--no-workflows', '--connect-timeout', '1s'], { env: env({ FERRY_S3_ALLOW_UNENCRYPTED: 'true', FERRY_TEMPORAL_ADDRESS: '127.0.0.1:1' }), stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await exited;
  // It got past the store check to the Temporal connection, which fails here on purpose.
  await until('the worker to report', () => err.includes('cannot reach Temporal'));
  expect(err).toMatch(/ferry: warning: images \(process memory\) go to s3\.store\.invalid unencrypted \(FERRY_S3_ALLOW_UNENCRYPTED=true\)/);
  expect(err).not.toMatch(/no encryption key is configured/);
});
