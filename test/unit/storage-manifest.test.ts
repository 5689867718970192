import { KeyLayout, ManifestInvalid, isValidCheckpointId, newManifest, validateManifest } from '../../src/storage';
import type { CheckpointManifest, LayerRecord } from '../../src/storage';

function layer(index: number, kind: LayerRecord['kind'] = 'pre-dump'): LayerRecord {
  return {
    index,
    kind,
    parentIndex: index === 0 ? null : index - 1,
    files: [{ name: 'pages-1.img', size: 3, sha256: 'a'.repeat(64) }],
    bytes: 3,
    criuVersion: '4.1.1',
    kernel: '6.18',
    host: 'h',
    process: { pid: 1, startTime: 2, bootId: 'b', comm: 'c' },
    stats: { frozenTimeUs: 0, memdumpTimeUs: 0, pagesScanned: 0, pagesWritten: 0, pagesSkippedParent: 0 },
    storedAt: '2026-01-01T00:00:00.000Z',
  };
}

function manifest(over: Partial<CheckpointManifest> = {}): CheckpointManifest {
  return { ...newManifest('cp-1'), layers: [layer(0), layer(1, 'dump')], complete: true, completedAt: 'x', ...over };
}

describe('manifest validation', () => {
  it('accepts a well-formed chain', () => {
    expect(validateManifest('k', manifest()).layers).toHaveLength(2);
  });

  it.each([
    ['wrong format version', { formatVersion: 3 }],
    ['an encrypted layer in a version-1 manifest', { layers: [{ ...layer(0), encryption: { scheme: 'aes-256-gcm-seg1', keyId: 'a'.repeat(16), segmentSize: 1048576 }, files: [{ name: 'x.img', size: 3, sha256: 'a'.repeat(64), blob: 'b'.repeat(64) }], bytes: 3 }] }],
    ['a blob name without encryption', { formatVersion: 2, layers: [{ ...layer(0), files: [{ name: 'x.img', size: 3, sha256: 'a'.repeat(64), blob: 'b'.repeat(64) }], bytes: 3 }] }],
    ['a layer out of order', { layers: [layer(1), layer(0)] }],
    ['a dump before the end', { layers: [layer(0, 'dump'), layer(1)] }],
    ['complete with no layers', { layers: [] }],
    ['a path in a file name', { layers: [{ ...layer(0), files: [{ name: '../etc/passwd', size: 3, sha256: 'a'.repeat(64) }] }] }],
    ['bytes not adding up', { layers: [{ ...layer(0), bytes: 99 }] }],
    ['a layer without files', { layers: [{ ...layer(0), files: [], bytes: 0 }, layer(1, 'dump')] }],
    ['a bad hash', { layers: [{ ...layer(0), files: [{ name: 'x.img', size: 3, sha256: 'nothex' }] }] }],
    ['a base layer on itself', { baseLayers: [{ checkpointId: 'cp-1', index: 0 }] }],
  ])('rejects %s', (_what, over) => {
    expect(() => validateManifest('ferry/checkpoints/cp-1/manifest.json', manifest(over as Partial<CheckpointManifest>))).toThrow(ManifestInvalid);
  });

  it('numbers own layers after the base layers', () => {
    const m = manifest({ baseLayers: [{ checkpointId: 'warm', index: 0 }], layers: [layer(1, 'dump')] });
    expect(validateManifest('k', m).layers[0].index).toBe(1);
    expect(() => validateManifest('k', { ...m, layers: [layer(0, 'dump')] })).toThrow(/index/);
  });

  it('accepts a warm chain naming its schedules, and refuses a malformed or complete one', () => {
    const warm = manifest({ complete: false, completedAt: null, layers: [layer(0)], warm: { scheduleIds: ['nightly-db'] } });
    expect(validateManifest('k', warm).warm).toEqual({ scheduleIds: ['nightly-db'] });
    expect(() => validateManifest('k', { ...warm, warm: { scheduleIds: 'nightly-db' } })).toThrow(/warm must be/);
    expect(() => validateManifest('k', { ...warm, warm: { scheduleIds: [''] } })).toThrow(/warm must be/);
    expect(() => validateManifest('k', { ...warm, complete: true })).toThrow(/cannot be complete/);
  });

  it('refuses a manifest stored under another id', () => {
    expect(() => validateManifest('k', manifest(), 'other')).toThrow(/names checkpoint/);
  });
});

describe('key layout', () => {
  it('puts manifests and blobs under the prefix and parses them back', () => {
    const keys = new KeyLayout('/ferry/');
    expect(keys.manifest('a')).toBe('ferry/checkpoints/a/manifest.json');
    expect(keys.checkpointIdOf(keys.manifest('a'))).toBe('a');
    const sha = 'b'.repeat(64);
    expect(keys.shaOf(keys.blob(sha))).toBe(sha);
    expect(keys.checkpointIdOf('ferry/checkpoints/a/other')).toBeNull();
    expect(isValidCheckpointId('../x')).toBe(false);
    expect(isValidCheckpointId('nightly-2026.11.26')).toBe(true);
  });
});
