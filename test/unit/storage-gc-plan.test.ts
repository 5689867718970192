/** gc's decisions (src/storage/gc-plan.ts) on hand-made listings: no bucket involved. */
import { blobsToSweep, planRetention, referencedBlobs, warmScheduleIds, type ListedCheckpoint, type RetentionRules } from '../../src/storage/gc-plan';
import type { CheckpointManifest, LayerFile } from '../../src/storage/types';

const HOUR = 3_600_000;
const NOW = Date.parse('2026-11-26T12:00:00Z');
const ago = (hours: number): string => new Date(NOW - hours * HOUR).toISOString();

function file(sha: string): LayerFile {
  return { name: `pages-${sha}.img`, size: 100, sha256: sha.repeat(64).slice(0, 64) };
}

function checkpoint(id: string, opts: { complete?: boolean; ageHours: number; files?: string[]; bases?: string[] }): ListedCheckpoint {
  const complete = opts.complete ?? true;
  const manifest = {
    formatVersion: 1,
    checkpointId: id,
    complete,
    createdAt: ago(opts.ageHours + 1),
    completedAt: complete ? ago(opts.ageHours) : null,
    layers: [{ index: 0, kind: 'dump', parentIndex: null, files: (opts.files ?? []).map(file) }],
    baseLayers: (opts.bases ?? []).map((b) => ({ checkpointId: b, index: 0 })),
  } as unknown as CheckpointManifest;
  return { id, manifest };
}

const blobOf = (f: LayerFile): string => `blobs/${f.sha256}`;
const DAY = 24 * HOUR;

/** The rules of a gc run at NOW with a 24 h grace period and no warm chain in question. */
function rules(keepLast: number, over: Partial<RetentionRules> = {}): RetentionRules {
  return { keepLast, now: NOW, graceMs: 24 * HOUR, liveSchedules: new Set(), keepReleasedMs: 7 * DAY, ...over };
}

/** A schedule's warm chain: pre-dump layers only, last written `ageHours` ago. */
function warmChain(id: string, ageHours: number, scheduleIds?: string[]): ListedCheckpoint {
  const manifest = {
    formatVersion: 1,
    checkpointId: id,
    complete: false,
    createdAt: ago(ageHours),
    completedAt: null,
    layers: [{ index: 0, kind: 'pre-dump', parentIndex: null, files: [], storedAt: ago(ageHours) }],
    baseLayers: [],
    ...(scheduleIds ? { warm: { scheduleIds } } : {}),
  } as unknown as CheckpointManifest;
  return { id, manifest };
}

describe('planRetention', () => {
  it('keeps the most recent complete checkpoints by completion time and deletes the older ones', () => {
    const all = [checkpoint('a', { ageHours: 40 }), checkpoint('b', { ageHours: 10 }), checkpoint('c', { ageHours: 30 }), checkpoint('d', { ageHours: 20 })];
    const plan = planRetention(all, rules(2));
    expect([...plan.kept].sort()).toEqual(['b', 'd']);
    expect(plan.deleted.sort()).toEqual(['a', 'c']);
    expect(plan.keptAsBase.size).toBe(0);
  });

  it('keeps what a kept checkpoint builds on, transitively, and says why', () => {
    const all = [checkpoint('old-base', { ageHours: 50 }), checkpoint('mid', { ageHours: 40, bases: ['old-base'] }), checkpoint('new', { ageHours: 1, bases: ['mid'] }), checkpoint('loose', { ageHours: 45 })];
    const plan = planRetention(all, rules(1));
    expect([...plan.kept]).toEqual(['new']);
    expect([...plan.keptAsBase].sort()).toEqual(['mid', 'old-base']);
    expect(plan.deleted).toEqual(['loose']);
    expect(plan.reasons.get('old-base')).toBe('kept checkpoint mid builds on its layers');
    expect(plan.reasons.get('loose')).toMatch(/older than the 1 most recent complete/);
  });

  it('never deletes an unreadable manifest or an incomplete checkpoint inside the grace period', () => {
    const all: ListedCheckpoint[] = [
      { id: 'unreadable' },
      checkpoint('uploading', { complete: false, ageHours: 2 }),
      checkpoint('abandoned', { complete: false, ageHours: 48 }),
      checkpoint('done', { ageHours: 5 }),
    ];
    const plan = planRetention(all, rules(0));
    expect([...plan.kept].sort()).toEqual(['unreadable', 'uploading']);
    expect(plan.deleted.sort()).toEqual(['abandoned', 'done']);
    expect(plan.reasons.get('unreadable')).toMatch(/cannot be read/);
    expect(plan.reasons.get('uploading')).toMatch(/younger than the grace period \(1d/);
    expect(plan.reasons.get('abandoned')).toMatch(/older than the grace period .*abandoned push/);
    expect(plan.reasons.get('done')).toBe('complete, and --keep-last 0 keeps no complete checkpoint');
  });
});

describe('planRetention: warm chains', () => {
  const chains = [warmChain('warm-live', 10 * 24, ['nightly']), warmChain('warm-gone', 10 * 24, ['deleted-one']), warmChain('warm-recent', 3 * 24, ['deleted-two'])];

  it('keeps a chain past the grace period while its schedule exists, and says so', () => {
    const plan = planRetention(chains, rules(0, { liveSchedules: new Set(['nightly']) }));
    expect(plan.kept.has('warm-live')).toBe(true);
    expect(plan.reasons.get('warm-live')).toBe('warm chain of schedule nightly, which exists');
  });

  it('keeps a released chain until the release time after its last pre-dump has passed, then deletes it', () => {
    const plan = planRetention(chains, rules(0, { liveSchedules: new Set(['nightly']) }));
    expect(plan.deleted).toEqual(['warm-gone']);
    expect(plan.reasons.get('warm-gone')).toMatch(/schedule deleted-one no longer exists\); its last pre-dump at .* is more than 7d ago/);
    expect(plan.kept.has('warm-recent')).toBe(true);
    expect(plan.reasons.get('warm-recent')).toBe(`warm chain released (schedule deleted-two no longer exists); kept until ${ago(3 * 24 - 7 * 24)}, 7d after its last pre-dump at ${ago(3 * 24)}`);
    // A shorter release time lets the recent one go as well.
    expect(planRetention(chains, rules(0, { liveSchedules: new Set(), keepReleasedMs: 2 * DAY })).deleted.sort()).toEqual(['warm-gone', 'warm-live', 'warm-recent']);
  });

  it('keeps every warm chain, with the reason, when the schedules could not be checked; other incomplete ones still go', () => {
    const all = [...chains, checkpoint('abandoned', { complete: false, ageHours: 48 })];
    const plan = planRetention(all, rules(0, { liveSchedules: null, schedulesUnknownBecause: 'Temporal at 127.0.0.1:1 did not answer' }));
    expect(plan.deleted).toEqual(['abandoned']);
    for (const id of ['warm-live', 'warm-gone', 'warm-recent']) {
      expect(plan.reasons.get(id)).toMatch(/kept because gc could not check which schedules exist \(Temporal at 127.0.0.1:1 did not answer\)/);
    }
  });

  it('treats a chain named warm-* without a recorded schedule (written before it was recorded) as released', () => {
    const legacy = [warmChain('warm-legacy-old', 9 * 24), warmChain('warm-legacy-new', 2 * 24), warmChain('plain-old', 9 * 24)];
    const plan = planRetention(legacy, rules(0));
    expect(plan.deleted.sort()).toEqual(['plain-old', 'warm-legacy-old']);
    expect(plan.reasons.get('warm-legacy-new')).toMatch(/^warm chain released \(no schedule is recorded for it\); kept until/);
    expect(plan.reasons.get('plain-old')).toMatch(/abandoned push/);
  });

  it('a chain any of whose schedules exists stays; a checkpoint built on a released chain keeps it as its base', () => {
    const shared = warmChain('warm-shared', 30 * 24, ['gone', 'alive']);
    const base = warmChain('warm-base', 30 * 24, ['gone']);
    const built = checkpoint('built', { ageHours: 1, bases: ['warm-base'] });
    const plan = planRetention([shared, base, built], rules(1, { liveSchedules: new Set(['alive']) }));
    expect(plan.reasons.get('warm-shared')).toBe('warm chain of schedule alive, which exists');
    expect([...plan.keptAsBase]).toEqual(['warm-base']);
    expect(plan.reasons.get('warm-base')).toBe('kept checkpoint built builds on its layers');
    expect(plan.deleted).toEqual([]);
  });

  it('asks only about the schedules warm chains record', () => {
    expect(warmScheduleIds([...chains, warmChain('warm-shared', 1, ['nightly', 'other']), checkpoint('done', { ageHours: 1 })])).toEqual(['deleted-one', 'deleted-two', 'nightly', 'other']);
  });
});

describe('referencedBlobs and blobsToSweep', () => {
  const all = [checkpoint('gone', { ageHours: 30, files: ['1', '2'] }), checkpoint('stays', { ageHours: 1, files: ['2', '3'] })];
  const referenced = referencedBlobs(all, ['gone'], blobOf);
  const key = (sha: string): string => blobOf(file(sha));

  it('counts only the files of checkpoints that stay (a blob shared with a deleted one stays referenced)', () => {
    expect([...referenced].sort()).toEqual([key('2'), key('3')].sort());
  });

  it('sweeps an unreferenced blob only when it is older than the grace period and of known age', () => {
    const isBlobKey = (k: string): boolean => k.startsWith('blobs/');
    const blobs = [
      { key: key('1'), size: 100, lastModified: new Date(NOW - 30 * HOUR) }, // unreferenced, old: swept
      { key: key('2'), size: 100, lastModified: new Date(NOW - 30 * HOUR) }, // referenced
      { key: key('4'), size: 100, lastModified: new Date(NOW - 1 * HOUR) }, // a push may still need it
      { key: key('5'), size: 100, lastModified: undefined }, // age unknown
      { key: 'manifests/x.json', size: 10, lastModified: new Date(NOW - 30 * HOUR) }, // not a blob
    ];
    expect(blobsToSweep(blobs, referenced, isBlobKey, NOW, 24 * HOUR).map((b) => b.key)).toEqual([key('1')]);
  });
});
