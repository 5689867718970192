/**
 * The storage commands end to end against a real MinIO, with credentials reaching the SDK only
 * through the AWS provider chain (a shared-credentials file + AWS_PROFILE), never through flags:
 * push, checkpoints ls/show, pull, rm, gc, with --json output that is exactly one JSON document,
 * and failures with their exit codes and no secret anywhere in the output.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeChain, snapshotDir } from '../helpers/storage-fixtures';
import { PrivateMinio } from '../helpers/minio';

jest.setTimeout(300_000);
const root = path.resolve(__dirname, '../..');

let minio: PrivateMinio;
let work: string;
let env: NodeJS.ProcessEnv;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function ferry(args: string[], over: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-r', path.join(root, 'bench/storage-ts-register.js'), path.join(__dirname, 'storage-cli-main.ts'), ...args],
      { cwd: root, env: { ...env, ...over }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function noSecrets(r: Run): void {
  expect(r.stdout + r.stderr).not.toContain(minio.secretKey);
}

beforeAll(async () => {
  minio = new PrivateMinio();
  await minio.start();
  await minio.createBucket('cli-bucket');
  work = mkdtempSync(path.join(os.tmpdir(), 'ferry-cli-'));
  env = {
    PATH: process.env.PATH,
    HOME: work,
    FERRY_STATE_DIR: path.join(work, 'state'),
    FERRY_S3_ENDPOINT: minio.endpoint,
    FERRY_S3_BUCKET: 'cli-bucket',
    FERRY_S3_PREFIX: 'cli',
    AWS_SHARED_CREDENTIALS_FILE: minio.writeCredentialsFile('ferry-cli-test'),
    AWS_PROFILE: 'ferry-cli-test',
    AWS_REGION: 'us-east-1',
  };
});

afterAll(async () => {
  await minio?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

it('push, ls, show, pull, rm and gc through the CLI, --json printing only JSON', async () => {
  const chain = makeChain(3, [6 * 1024 * 1024, 8192, 12288], 77, mkdtempSync(path.join(work, 'chain-')));
  const push = await ferry(['push', chain.dirs[2], '--checkpoint', 'cli-1', '--json']);
  expect(push.stderr).not.toMatch(/ferry:/);
  expect(push.code).toBe(0);
  const pushed = JSON.parse(push.stdout) as { checkpointId: string; layers: number; complete: boolean; bytesTotal: number };
  expect(pushed).toMatchObject({ checkpointId: 'cli-1', layers: 3, complete: true });
  noSecrets(push);

  const ls = await ferry(['checkpoints', 'ls', '--json']);
  expect(JSON.parse(ls.stdout)).toEqual([expect.objectContaining({ checkpointId: 'cli-1', complete: true, layers: 3, bytes: pushed.bytesTotal })]);
  const human = await ferry(['checkpoints', 'ls']);
  expect(human.stdout).toMatch(/cli-1\s+complete\s+3 layers/);

  const show = await ferry(['checkpoints', 'show', 'cli-1', '--json']);
  const described = JSON.parse(show.stdout) as { chain: Array<{ layer: { kind: string } }> };
  expect(described.chain.map((e) => e.layer.kind)).toEqual(['pre-dump', 'pre-dump', 'dump']);

  const into = path.join(work, 'pulled');
  const pull = await ferry(['pull', 'cli-1', '--into', into, '--json']);
  expect(pull.code).toBe(0);
  const pulled = JSON.parse(pull.stdout) as { layerDirs: string[]; finalDir: string };
  expect(pulled.finalDir).toBe(path.join(into, 'layer-2'));
  for (let i = 0; i < 3; i++) expect(snapshotDir(pulled.layerDirs[i]).files).toEqual(snapshotDir(chain.dirs[i]).files);

  const gc = await ferry(['gc', '--keep-last', '1', '--grace-hours', '0', '--json']);
  expect(JSON.parse(gc.stdout)).toMatchObject({ kept: ['cli-1'], deleted: [] });

  const rm = await ferry(['checkpoints', 'rm', 'cli-1', '--json']);
  expect(JSON.parse(rm.stdout)).toMatchObject({ checkpointId: 'cli-1' });
  const missing = await ferry(['pull', 'cli-1', '--into', path.join(work, 'again')]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/checkpoint "cli-1" not found/);
});

it('fails clearly: bad input exits 2 and changes nothing; a wrong secret exits 1 without the secret', async () => {
  const bad = await ferry(['pull', '../etc', '--into', path.join(work, 'x')]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/checkpoint id/);
  expect(() => readdirSync(path.join(work, 'x'))).toThrow();

  const wrongFile = path.join(work, 'wrong-credentials');
  writeFileSync(wrongFile, `[ferry-cli-test]\naws_access_key_id = ${minio.accessKey}\naws_secret_access_key = not-${minio.secretKey}\n`);
  const denied = await ferry(['checkpoints', 'ls'], { AWS_SHARED_CREDENTIALS_FILE: wrongFile });
  expect(denied.code).toBe(1);
  expect(denied.stderr).toMatch(/access denied/);
  expect(denied.stdout + denied.stderr).not.toContain(`not-${minio.secretKey}`);
  noSecrets(denied);
});
