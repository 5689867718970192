/**
 * `ferry gc` and schedules' warm chains (issue 18), on a real MinIO and a real Temporal dev server:
 * a chain past the grace period stays while its schedule exists, is released when the schedule is
 * deleted, and goes once the release time after its last pre-dump has passed. The chain's age is
 * set in its manifest by the test (no sleeping). A gc that cannot reach Temporal keeps warm chains
 * and says so.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FerryClient } from '../../src/client';
import { loadConfig } from '../../src/config/config';
import { openLayerStore, pushLocalChain, type GcResult, type LayerStore } from '../../src/storage';
import { ferryInProcess } from '../helpers/ferry-cli';
import { PrivateMinio } from '../helpers/minio';
import { freePort } from '../helpers/ports';
import { makeChain } from '../helpers/storage-fixtures';
import { PrivateTemporal, installTestRuntime } from '../helpers/temporal';

jest.setTimeout(180_000);

const DAY = 24 * 3_600_000;
let minio: PrivateMinio;
let temporal: PrivateTemporal;
let work: string;
const savedEnv = { ...process.env };

beforeAll(async () => {
  installTestRuntime();
  work = mkdtempSync(path.join(os.tmpdir(), 'ferry-gc-warm-'));
  minio = new PrivateMinio();
  temporal = new PrivateTemporal(path.join(work, 'temporal.db'));
  await Promise.all([minio.start(), temporal.start()]);
  await minio.createBucket('gc-warm');
  Object.assign(process.env, {
    FERRY_STATE_DIR: path.join(work, 'state'),
    FERRY_S3_ENDPOINT: minio.endpoint,
    FERRY_S3_BUCKET: 'gc-warm',
    AWS_ACCESS_KEY_ID: minio.accessKey,
    AWS_SECRET_ACCESS_KEY: minio.secretKey,
    AWS_REGION: 'us-east-1',
    FERRY_TEMPORAL_ADDRESS: temporal.address,
  });
});

afterAll(async () => {
  process.env = savedEnv;
  await Promise.all([minio?.stop(), temporal?.kill()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The store under a prefix of the test's own (each test starts with an empty store). */
function useStore(prefix: string): LayerStore {
  process.env.FERRY_S3_PREFIX = prefix;
  return openLayerStore(loadConfig());
}

/**
 * Stores a chain as a warm chain would be: pre-dump layers, an incomplete manifest naming its
 * schedules, last written `ageDays` ago. Without schedule ids it is a plain abandoned push.
 */
let seed = 0;
async function storeChain(store: LayerStore, id: string, ageDays: number, scheduleIds?: string[]): Promise<void> {
  // Blobs are content-addressed: a seed of each chain's own keeps them apart.
  const chain = makeChain(1, [8192], ++seed);
  await pushLocalChain(store, id, chain.dirs[0]!);
  const m = await store.readManifest(id);
  const at = new Date(Date.now() - ageDays * DAY).toISOString();
  await store.writeManifest({
    ...m,
    complete: false,
    completedAt: null,
    createdAt: at,
    layers: m.layers.map((l) => ({ ...l, storedAt: at })),
    ...(scheduleIds ? { warm: { scheduleIds } } : {}),
  });
  rmSync(chain.root, { recursive: true, force: true });
}

async function gc(...flags: string[]): Promise<GcResult> {
  const r = await ferryInProcess('gc', '--keep-last', '0', '--grace-hours', '0', '--json', ...flags);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as GcResult;
}

const decision = (r: GcResult, id: string) => r.decisions.find((d) => d.checkpointId === id);
const storedIds = async (store: LayerStore): Promise<string[]> => (await store.list()).map((s) => s.checkpointId).sort();

it('keeps a warm chain while its schedule exists, releases it when the schedule is deleted, deletes it after the release time', async () => {
  const store = useStore('lifecycle');
  const ferry = await FerryClient.connect(loadConfig());
  try {
    await ferry.createWarmSchedule({ scheduleId: 'nightly-db', cron: '0 2 1 1 *', input: { host: 'gc-host', pid: 4242 } });
    await storeChain(store, 'warm-gc-host-4242-aaaa', 10, ['nightly-db']);
    await storeChain(store, 'abandoned-push', 10);

    const live = await gc();
    expect(live.schedules).toEqual({ state: 'checked' });
    expect(decision(live, 'warm-gc-host-4242-aaaa')).toEqual({ checkpointId: 'warm-gc-host-4242-aaaa', action: 'keep', reason: 'warm chain of schedule nightly-db, which exists' });
    expect(decision(live, 'abandoned-push')).toMatchObject({ action: 'delete', reason: expect.stringMatching(/abandoned push/) });
    expect(live.blobsDeleted).toBeGreaterThan(0);
    expect(await storedIds(store)).toEqual(['warm-gc-host-4242-aaaa']);
    // Its layers are all still there for a migrate to build on.
    const pulled = await store.pullChain('warm-gc-host-4242-aaaa', path.join(work, 'pulled'), { allowIncomplete: true });
    expect(pulled.layerDirs).toHaveLength(1);

    // The text form says the same per checkpoint.
    const text = await ferryInProcess('gc', '--keep-last', '0', '--grace-hours', '0', '--dry-run');
    expect(text.stdout).toMatch(/^keep +warm-gc-host-4242-aaaa +warm chain of schedule nightly-db, which exists$/m);

    await ferry.deleteSchedule('nightly-db');
    const released = await gc('--keep-released-chains', '30d');
    expect(decision(released, 'warm-gc-host-4242-aaaa')).toMatchObject({
      action: 'keep',
      reason: expect.stringMatching(/^warm chain released \(schedule nightly-db no longer exists\); kept until .*, 30d after its last pre-dump/),
    });
    expect(await storedIds(store)).toEqual(['warm-gc-host-4242-aaaa']);

    const gone = await gc();
    expect(decision(gone, 'warm-gc-host-4242-aaaa')).toMatchObject({ action: 'delete', reason: expect.stringMatching(/is more than 7d ago$/) });
    expect(gone.blobsDeleted).toBeGreaterThan(0);
    expect(await storedIds(store)).toEqual([]);
  } finally {
    await ferry.close();
  }
});

it('a gc that cannot reach Temporal keeps every warm chain and says so; the rest of its work still happens', async () => {
  const store = useStore('unreachable');
  await storeChain(store, 'warm-gc-host-5151-bbbb', 30, ['nightly-web']);
  await storeChain(store, 'abandoned-push', 30);
  process.env.FERRY_TEMPORAL_ADDRESS = `127.0.0.1:${await freePort()}`;
  try {
    const r = await ferryInProcess('gc', '--keep-last', '0', '--grace-hours', '0');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: kept every warm chain, since gc could not tell which schedules exist: Temporal at 127\.0\.0\.1:\d+ \(namespace default\) did not answer/);
    expect(r.stdout).toMatch(/^keep +warm-gc-host-5151-bbbb +warm chain of schedule nightly-web: kept because gc could not check which schedules exist/m);
    expect(r.stdout).toMatch(/^delete +abandoned-push +incomplete and older than the grace period/m);
    expect(await storedIds(store)).toEqual(['warm-gc-host-5151-bbbb']);
  } finally {
    process.env.FERRY_TEMPORAL_ADDRESS = temporal.address;
  }
});

it('--keep-last takes 0 and says "0 or more" when refused; --keep-released-chains wants a duration', async () => {
  useStore('flags');
  const negative = await ferryInProcess('gc', '--keep-last', '-1');
  expect(negative.code).not.toBe(0);
  expect(negative.stderr).toMatch(/--keep-last must be a whole number \(0 or more\), got "-1"/);
  const badDuration = await ferryInProcess('gc', '--keep-last', '0', '--keep-released-chains', 'a week');
  expect(badDuration.stderr).toMatch(/--keep-released-chains must be a duration such as 7d, 36h, 90m or 0, got "a week"/);
  expect((await ferryInProcess('gc', '--keep-last', '0', '--json')).code).toBe(0);
});
