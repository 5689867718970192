/** gc's decisions (src/storage/gc-plan.ts) on hand-made listings: no bucket involved. */
import { blobsToSweep, planRetention, referencedBlobs, type ListedCheckpoint } from '../../src/storage/gc-plan';
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

describe('planRetention', () => {
  it('keeps the most recent complete checkpoints by completion time and deletes the older ones', () => {
    const all = [checkpoint('a', { ageHours: 40 }), checkpoint('b', { ageHours: 10 }), checkpoint('c', { ageHours: 30 }), checkpoint('d', { ageHours: 20 })];
    const plan = planRetention(all, 2, NOW, 24 * HOUR);
    expect([...plan.kept].sort()).toEqual(['b', 'd']);
    expect(plan.deleted.sort()).toEqual(['a', 'c']);
    expect(plan.keptAsBase.size).toBe(0);
  });

  it('keeps what a kept checkpoint builds on, transitively, and says why', () => {
    const all = [checkpoint('old-base', { ageHours: 50 }), checkpoint('mid', { ageHours: 40, bases: ['old-base'] }), checkpoint('new', { ageHours: 1, bases: ['mid'] }), checkpoint('loose', { ageHours: 45 })];
    const plan = planRetention(all, 1, NOW, 24 * HOUR);
    expect([...plan.kept]).toEqual(['new']);
    expect([...plan.keptAsBase].sort()).toEqual(['mid', 'old-base']);
    expect(plan.deleted).toEqual(['loose']);
  });

  it('never deletes an unreadable manifest or an incomplete checkpoint inside the grace period', () => {
    const all: ListedCheckpoint[] = [
      { id: 'unreadable' },
      checkpoint('uploading', { complete: false, ageHours: 2 }),
      checkpoint('abandoned', { complete: false, ageHours: 48 }),
      checkpoint('done', { ageHours: 5 }),
    ];
    const plan = planRetention(all, 0, NOW, 24 * HOUR);
    expect([...plan.kept].sort()).toEqual(['unreadable', 'uploading']);
    expect(plan.deleted.sort()).toEqual(['abandoned', 'done']);
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
