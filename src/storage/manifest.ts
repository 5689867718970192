/**
 * The manifest format and its validation. A manifest read from the store is untrusted input:
 * everything a reader relies on (layer order, parent links, file names, sizes, hashes) is checked
 * here before any download starts, so a damaged or hand-edited manifest fails as ManifestInvalid
 * instead of producing a wrong chain on disk.
 *
 * Chain positions: a checkpoint's chain is its baseLayers (positions 0..b-1, layers of other
 * checkpoints) followed by its own layers, whose `index` continues at b. Every layer's parent is
 * the layer just before it.
 */
import type { CheckpointManifest, LayerFile, LayerRecord } from './types';
import { ManifestInvalid } from '../core';
import { isValidCheckpointId } from './keys';
import { isManifestAuthRecord } from './manifest-auth';
import { ENCRYPTION_SCHEME, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE } from './blob-cipher';

/** The format version a manifest with these layers is written with: 2 only when something is encrypted. */
export function formatVersionFor(layers: LayerRecord[]): 1 | 2 {
  return layers.some((l) => l.encryption !== undefined) ? 2 : 1;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
// CRIU images dirs are flat; anything with a slash, a NUL or a dot-prefix is not one of its files.
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@:+-]{0,254}$/;

export function isValidLayerFileName(name: string): boolean {
  return FILE_NAME.test(name) && name !== 'parent';
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function checkFile(key: string, where: string, f: unknown): LayerFile {
  if (!isObject(f)) throw new ManifestInvalid(key, `${where} is not an object`);
  if (typeof f.name !== 'string' || !isValidLayerFileName(f.name)) {
    throw new ManifestInvalid(key, `${where}.name ${JSON.stringify(f.name)} is not a plain file name`);
  }
  if (!isNonNegInt(f.size)) throw new ManifestInvalid(key, `${where}.size is not a byte count`);
  if (typeof f.sha256 !== 'string' || !SHA256_HEX.test(f.sha256)) {
    throw new ManifestInvalid(key, `${where}.sha256 is not a hex SHA-256`);
  }
  if (f.blob !== undefined && (typeof f.blob !== 'string' || !SHA256_HEX.test(f.blob))) {
    throw new ManifestInvalid(key, `${where}.blob is not a 64-hex object name`);
  }
  // Printable ASCII only: S3 ETags are quoted hex (plus "-N" for multipart uploads).
  if (f.etag !== undefined && (typeof f.etag !== 'string' || !/^[\x20-\x7e]{1,256}$/.test(f.etag))) {
    throw new ManifestInvalid(key, `${where}.etag is not an ETag`);
  }
  return f as unknown as LayerFile;
}

// Restores and the CLI read these fields as numbers and strings: a manifest that lies about their
// types is refused here rather than failing somewhere downstream.
function checkProcess(key: string, where: string, p: unknown): void {
  if (!isObject(p)) throw new ManifestInvalid(key, `${where} is missing`);
  if (!isNonNegInt(p.pid)) throw new ManifestInvalid(key, `${where}.pid is not a process id`);
  if (!isNonNegInt(p.startTime)) throw new ManifestInvalid(key, `${where}.startTime is not a clock-tick count`);
  if (typeof p.bootId !== 'string' || typeof p.comm !== 'string') throw new ManifestInvalid(key, `${where}.bootId/comm is not a string`);
}

const STATS_FIELDS = ['frozenTimeUs', 'memdumpTimeUs', 'pagesScanned', 'pagesWritten', 'pagesSkippedParent'] as const;

function checkStats(key: string, where: string, st: unknown): void {
  if (!isObject(st)) throw new ManifestInvalid(key, `${where} is missing`);
  for (const field of STATS_FIELDS) {
    if (!isNonNegInt(st[field])) throw new ManifestInvalid(key, `${where}.${field} is not a non-negative integer`);
  }
}

function checkLayer(key: string, where: string, l: unknown, expectedIndex: number): LayerRecord {
  if (!isObject(l)) throw new ManifestInvalid(key, `${where} is not an object`);
  if (l.index !== expectedIndex) throw new ManifestInvalid(key, `${where}.index is ${String(l.index)}, expected ${expectedIndex}`);
  const expectedParent = expectedIndex === 0 ? null : expectedIndex - 1;
  if (l.parentIndex !== expectedParent) {
    throw new ManifestInvalid(key, `${where}.parentIndex is ${String(l.parentIndex)}, expected ${String(expectedParent)}`);
  }
  if (l.kind !== 'pre-dump' && l.kind !== 'dump') throw new ManifestInvalid(key, `${where}.kind must be pre-dump or dump`);
  if (!Array.isArray(l.files)) throw new ManifestInvalid(key, `${where}.files is not a list`);
  // Every CRIU layer has at least its inventory: an empty layer would restore from nothing.
  if (l.files.length === 0) throw new ManifestInvalid(key, `${where}.files is empty; a layer holds at least CRIU's inventory.img`);
  const files = l.files.map((f, i) => checkFile(key, `${where}.files[${i}]`, f));
  const names = new Set(files.map((f) => f.name));
  if (names.size !== files.length) throw new ManifestInvalid(key, `${where}.files names a file twice`);
  const sum = files.reduce((acc, f) => acc + f.size, 0);
  if (l.bytes !== sum) throw new ManifestInvalid(key, `${where}.bytes is ${String(l.bytes)} but its files add up to ${sum}`);
  for (const field of ['criuVersion', 'kernel', 'host', 'storedAt'] as const) {
    if (typeof l[field] !== 'string') throw new ManifestInvalid(key, `${where}.${field} is not a string`);
  }
  checkProcess(key, `${where}.process`, l.process);
  checkStats(key, `${where}.stats`, l.stats);
  if (l.encryption !== undefined) {
    const e = l.encryption;
    if (!isObject(e) || e.scheme !== ENCRYPTION_SCHEME) throw new ManifestInvalid(key, `${where}.encryption.scheme must be ${ENCRYPTION_SCHEME}`);
    if (typeof e.keyId !== 'string' || !/^[0-9a-f]{16}$/.test(e.keyId)) throw new ManifestInvalid(key, `${where}.encryption.keyId is not a 16-hex key id`);
    if (!isNonNegInt(e.segmentSize) || e.segmentSize < MIN_SEGMENT_SIZE || e.segmentSize > MAX_SEGMENT_SIZE) {
      throw new ManifestInvalid(key, `${where}.encryption.segmentSize is not ${MIN_SEGMENT_SIZE}..${MAX_SEGMENT_SIZE}`);
    }
    if (files.some((f) => f.blob === undefined)) throw new ManifestInvalid(key, `${where} is encrypted but a file has no blob name`);
  } else if (files.some((f) => f.blob !== undefined)) {
    throw new ManifestInvalid(key, `${where} names encrypted blobs but has no encryption record`);
  }
  return l as unknown as LayerRecord;
}

/** Checks a parsed manifest; `key` is where it came from (for messages). */
export function validateManifest(key: string, value: unknown, expectedId?: string): CheckpointManifest {
  if (!isObject(value)) throw new ManifestInvalid(key, 'it is not a JSON object');
  if (value.formatVersion !== 1 && value.formatVersion !== 2) {
    throw new ManifestInvalid(key, `formatVersion ${JSON.stringify(value.formatVersion)} is not supported (this ferry reads 1 and 2)`);
  }
  if (typeof value.checkpointId !== 'string' || !isValidCheckpointId(value.checkpointId)) {
    throw new ManifestInvalid(key, 'checkpointId is missing or invalid');
  }
  if (expectedId !== undefined && value.checkpointId !== expectedId) {
    throw new ManifestInvalid(key, `it names checkpoint ${JSON.stringify(value.checkpointId)}, not ${JSON.stringify(expectedId)}`);
  }
  if (typeof value.complete !== 'boolean') throw new ManifestInvalid(key, 'complete is not a boolean');
  if (typeof value.createdAt !== 'string' || Number.isNaN(Date.parse(value.createdAt))) {
    throw new ManifestInvalid(key, 'createdAt is not an ISO time');
  }
  if (value.completedAt !== null && typeof value.completedAt !== 'string') throw new ManifestInvalid(key, 'completedAt is not a string or null');
  if (!Array.isArray(value.baseLayers)) throw new ManifestInvalid(key, 'baseLayers is not a list');
  value.baseLayers.forEach((b, i) => {
    if (!isObject(b) || typeof b.checkpointId !== 'string' || !isValidCheckpointId(b.checkpointId) || b.index !== i) {
      throw new ManifestInvalid(key, `baseLayers[${i}] must be { checkpointId, index: ${i} }`);
    }
    if (b.checkpointId === value.checkpointId) throw new ManifestInvalid(key, `baseLayers[${i}] points at the checkpoint itself`);
  });
  if (!Array.isArray(value.layers)) throw new ManifestInvalid(key, 'layers is not a list');
  const base = value.baseLayers.length;
  const layers = value.layers.map((l, i) => checkLayer(key, `layers[${i}]`, l, base + i));
  // A version-1 reader would look for encrypted files under plaintext names: such layers need 2.
  if (value.formatVersion === 1 && layers.some((l) => l.encryption !== undefined)) {
    throw new ManifestInvalid(key, 'it has encrypted layers but says formatVersion 1 (needs 2)');
  }
  if (value.warm !== undefined) {
    const w = value.warm;
    if (!isObject(w) || !Array.isArray(w.scheduleIds) || !w.scheduleIds.every((id) => typeof id === 'string' && id.length > 0)) {
      throw new ManifestInvalid(key, 'warm must be { scheduleIds: [schedule ids] }');
    }
    if (value.complete) throw new ManifestInvalid(key, 'a warm chain (pre-dumps only) cannot be complete');
  }
  if (value.auth !== undefined && !isManifestAuthRecord(value.auth)) throw new ManifestInvalid(key, 'auth is not an authentication record ferry writes');
  if (value.complete) {
    if (layers.length === 0) throw new ManifestInvalid(key, 'it is marked complete but has no layers');
    const dumpAt = layers.findIndex((l) => l.kind === 'dump');
    if (dumpAt !== -1 && dumpAt !== layers.length - 1) throw new ManifestInvalid(key, 'a dump layer is not the last layer');
  }
  return value as unknown as CheckpointManifest;
}

/** A new, empty, incomplete manifest. */
export function newManifest(checkpointId: string, baseLayers: CheckpointManifest['baseLayers'] = [], now = new Date()): CheckpointManifest {
  return {
    formatVersion: 1,
    checkpointId,
    complete: false,
    createdAt: now.toISOString(),
    completedAt: null,
    layers: [],
    baseLayers,
  };
}
