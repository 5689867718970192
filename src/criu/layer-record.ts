/**
 * ferry's own record in each layer it writes (`ferry-layer.json`, mode 0600, next to CRIU's images;
 * CRIU ignores files it does not know). CRIU's images say nothing about which parent a layer was
 * dumped against: its inventory holds the layer's own dump_uptime only. So when a final dump is
 * re-linked to an older pre-dump and the skipped pre-dump is not next to it, the images still look
 * consistent, yet the restore brings back stale pages. The record closes that gap: it fingerprints
 * the parent at dump time (its dump_uptime, boot id, and the SHA-256 of its inventory.img and its
 * root task's pagemap, both small files), and the chain check compares that with the layer the
 * `parent` link actually points at.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readImageFile } from './image-file';
import type { LayerInfo } from './images';
import { CRIU_OPTION_NAMES, type CriuOptions, type DumpKind, type ProcessIdentity } from './types';

export const LAYER_RECORD_FILE = 'ferry-layer.json';
/** Bumped when the record's meaning changes; readers refuse formats they do not know. */
export const LAYER_RECORD_FORMAT = 1;
/** A record is a few hundred bytes; anything much larger is not ours. */
const MAX_RECORD_BYTES = 64 * 1024;

/** What identifies a parent layer: enough to tell it from any other layer, even a copy's sibling. */
export interface LayerFingerprint {
  /** The parent's inventory dump_uptime (microseconds since boot), null when it has none. */
  dumpUptimeUs: number | null;
  /** Boot id of the machine when the child was dumped against it (soft-dirty chains live in one boot). */
  bootId: string;
  /** SHA-256 (hex) of the parent's inventory.img. */
  inventorySha256: string;
  /** SHA-256 (hex) of the parent's pagemap-<pid>.img for the chain's root pid. */
  pagemapSha256: string;
  /** The pid whose pagemap was hashed. */
  pid: number;
}

export interface FerryLayerRecord {
  format: number;
  kind: DumpKind;
  /** The dumped process (pid + start time + boot id + comm). */
  process: ProcessIdentity;
  /** This layer's own dump_uptime, for reading the record without the images. */
  dumpUptimeUs: number | null;
  /** The parent it was dumped against, or null for the first layer of a chain. */
  parent: LayerFingerprint | null;
  /** CRIU options the dump needed; a restore applies them too (absent: none). */
  criuOptions?: CriuOptions;
}

/** How one layer's parent link was checked against its record. */
export type ParentCheck =
  /** First layer: no parent link, and (if ferry wrote it) a record saying so. */
  | 'none'
  /** The record's fingerprint matches the layer the link points at. */
  | 'verified'
  /** The record disagrees with the link (details in the chain's problems). */
  | 'mismatch'
  /** The layer has a parent link but no ferry record (written by plain CRIU or an older ferry). */
  | 'not-fingerprinted';

function sha256(bytes: Buffer): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/**
 * Fingerprints `parentDir` as the parent of a dump of `pid` made now. Reads two small images with
 * the same safe reader as every image (no symlinks, FIFOs or huge files); throws ImagesInvalidError.
 */
export function fingerprintLayer(parentDir: string, dumpUptimeUs: number | null, pid: number, bootId: string): LayerFingerprint {
  return {
    dumpUptimeUs,
    bootId,
    inventorySha256: sha256(readImageFile(path.join(parentDir, 'inventory.img'))),
    pagemapSha256: sha256(readImageFile(path.join(parentDir, `pagemap-${pid}.img`))),
    pid,
  };
}

/** Writes the record into a fresh layer dir: created exclusively, 0600, never through a symlink. */
export function writeLayerRecord(dir: string, record: FerryLayerRecord): void {
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
  const fd = fs.openSync(path.join(dir, LAYER_RECORD_FILE), flags, 0o600);
  try {
    fs.writeFileSync(fd, JSON.stringify(record, null, 2) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

function isUptime(v: unknown): v is number | null {
  return v === null || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
}

function validFingerprint(v: unknown): v is LayerFingerprint {
  if (typeof v !== 'object' || v === null) return false;
  const f = v as Record<string, unknown>;
  return (
    isUptime(f.dumpUptimeUs) &&
    typeof f.bootId === 'string' &&
    typeof f.inventorySha256 === 'string' &&
    HEX64.test(f.inventorySha256) &&
    typeof f.pagemapSha256 === 'string' &&
    HEX64.test(f.pagemapSha256) &&
    typeof f.pid === 'number' &&
    Number.isSafeInteger(f.pid) &&
    f.pid > 0
  );
}

function validProcess(v: unknown): v is ProcessIdentity {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return typeof p.pid === 'number' && typeof p.startTime === 'number' && typeof p.bootId === 'string' && typeof p.comm === 'string';
}

/**
 * The record of layer `dir`: null when there is none (plain CRIU layer), else the record or the
 * reason it cannot be used (unreadable, not JSON, unknown format, missing fields).
 */
export function readLayerRecord(dir: string): { record: FerryLayerRecord } | { problem: string } | null {
  const file = path.join(dir, LAYER_RECORD_FILE);
  let text: string;
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    return { problem: `${file} cannot be opened (${code === 'ELOOP' ? 'it is a symlink' : (code ?? (err as Error).message)})` };
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { problem: `${file} is not a regular file` };
    if (st.size > MAX_RECORD_BYTES) return { problem: `${file} is ${st.size} bytes, far more than a ferry layer record holds` };
    text = fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { problem: `${file} is not valid JSON (${(err as Error).message})` };
  }
  if (typeof value !== 'object' || value === null) return { problem: `${file} is not a JSON object` };
  const r = value as Record<string, unknown>;
  if (r.format !== LAYER_RECORD_FORMAT) {
    return { problem: `${file} has format ${JSON.stringify(r.format)}; this ferry reads format ${LAYER_RECORD_FORMAT} (upgrade ferry to check this chain)` };
  }
  if ((r.kind !== 'pre-dump' && r.kind !== 'dump') || !validProcess(r.process) || !isUptime(r.dumpUptimeUs)) {
    return { problem: `${file} lacks kind, process or dumpUptimeUs, or has them in the wrong type` };
  }
  if (r.parent !== null && !validFingerprint(r.parent)) return { problem: `${file} has a malformed parent fingerprint` };
  if (r.criuOptions !== undefined && !validCriuOptions(r.criuOptions)) return { problem: `${file} has malformed CRIU options` };
  return { record: value as FerryLayerRecord };
}

function validCriuOptions(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  return Object.entries(v).every(([k, b]) => (CRIU_OPTION_NAMES as readonly string[]).includes(k) && typeof b === 'boolean');
}

/**
 * Differences between the parent a layer recorded and the layer its link points at (empty when
 * they match). `parentRecord` is the parent's own record, when it has one.
 */
export function compareFingerprint(expected: LayerFingerprint, parent: LayerInfo, parentRecord: FerryLayerRecord | null): string[] {
  const diffs: string[] = [];
  if (expected.dumpUptimeUs !== parent.inventory.dumpUptimeUs) {
    diffs.push(`dump uptime ${expected.dumpUptimeUs ?? 'none'} us expected, ${parent.inventory.dumpUptimeUs ?? 'none'} us found`);
  }
  if (parentRecord && parentRecord.process.bootId !== expected.bootId) {
    diffs.push(`boot id ${expected.bootId} expected, the parent was dumped in boot ${parentRecord.process.bootId}`);
  }
  const hash = (name: string): string | null => {
    try {
      return sha256(readImageFile(path.join(parent.dir, name)));
    } catch {
      return null;
    }
  };
  const inv = hash('inventory.img');
  if (inv !== expected.inventorySha256) diffs.push(`inventory.img sha256 ${short(expected.inventorySha256)} expected, ${inv ? short(inv) : 'unreadable'} found`);
  const pm = hash(`pagemap-${expected.pid}.img`);
  if (pm !== expected.pagemapSha256) {
    diffs.push(`pagemap-${expected.pid}.img sha256 ${short(expected.pagemapSha256)} expected, ${pm ? short(pm) : 'missing or unreadable'} found`);
  }
  return diffs;
}

function short(hex: string): string {
  return hex.slice(0, 12);
}
