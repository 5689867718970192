/**
 * Readers for the CRIU images ferry cares about: inventory, pagemap (and the size of the pages
 * they point at), pstree, stats-dump and stats-restore. readLayer() summarises one images dir.
 */
import fs from 'node:fs';
import path from 'node:path';
import { decodeAs, decodeImage, readImageFile, splitImage } from './image-file';
import { ImagesInvalidError } from '../core';
import {
  INVENTORY_MAGIC,
  PAGEMAP_MAGIC,
  PE_LAZY,
  PE_PARENT,
  PE_PRESENT,
  PSTREE_MAGIC,
  STATS_MAGIC,
} from './schema';
import type { DumpKind, DumpStats } from './types';

export const PAGE_SIZE = 4096;

export interface InventoryInfo {
  imgVersion: number;
  /** Microseconds since boot at dump time; only memory-tracking dumps record it. */
  dumpUptimeUs: number | null;
  /** Set only in pre-dump images (1 = splice, 2 = read). */
  preDumpMode: number | null;
  criuRunId: string | null;
}

export interface PagemapEntryInfo {
  vaddr: number;
  nrPages: number;
  flags: number;
  present: boolean;
  inParent: boolean;
  lazy: boolean;
}

export interface PagemapInfo {
  /** The task the pagemap belongs to (from the file name pagemap-<pid>.img). */
  pid: number;
  file: string;
  pagesId: number;
  entries: PagemapEntryInfo[];
  pagesPresent: number;
  pagesInParent: number;
  pagesLazy: number;
  /** Size of pages-<pagesId>.img, or null if it is missing. */
  pagesFileBytes: number | null;
}

export interface DumpStatsInfo extends DumpStats {
  freezingTimeUs: number;
  memwriteTimeUs: number;
  pagesLazy: number;
}

export interface RestoreStatsInfo {
  pagesCompared: number;
  pagesSkippedCow: number;
  pagesRestored: number | null;
  forkingTimeUs: number;
  restoreTimeUs: number;
}

export interface PstreeEntryInfo {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  threads: number[];
}

export interface LayerInfo {
  /** Absolute path of the images dir. */
  dir: string;
  kind: DumpKind;
  inventory: InventoryInfo;
  /** The `parent` symlink's text as CRIU wrote it (relative to dir), or null. */
  parentLink: string | null;
  /** The parent layer's absolute path, or null for a first layer. */
  parentDir: string | null;
  /** Process tree (full dumps only; pre-dumps write none). */
  pstree: PstreeEntryInfo[] | null;
  /** Root pid: from pstree.img, else the pre-dump's only / lowest pagemap pid. */
  rootPid: number | null;
  pagemaps: PagemapInfo[];
  pagesPresent: number;
  pagesInParent: number;
  pagesLazy: number;
  /** Bytes of page data this layer holds (pages-*.img). */
  pagesBytes: number;
  /** All files in the dir. */
  files: number;
  bytes: number;
  dumpStats: DumpStatsInfo | null;
  restoreStats: RestoreStatsInfo | null;
  /** Anything that does not add up inside this layer (e.g. a pages file of the wrong size). */
  problems: string[];
}

interface RawInventory {
  img_version: number;
  dump_uptime?: number;
  pre_dump_mode?: number;
  dump_criu_run_id?: string;
}

export function parseInventory(file: string, bytes: Buffer): InventoryInfo {
  const records = decodeImage<RawInventory>(file, bytes, { magic: INVENTORY_MAGIC }, 'inventory_entry');
  if (records.length !== 1) throw new ImagesInvalidError(file, `holds ${records.length} inventory records, expected 1`);
  const inv = records[0]!;
  return {
    imgVersion: inv.img_version,
    dumpUptimeUs: inv.dump_uptime ?? null,
    preDumpMode: inv.pre_dump_mode ?? null,
    criuRunId: inv.dump_criu_run_id ?? null,
  };
}

interface RawPagemapEntry {
  vaddr: number;
  nr_pages: number;
  in_parent?: boolean;
  flags?: number;
  nr_pages_64?: number;
}

export function parsePagemap(file: string, bytes: Buffer, pid: number): Omit<PagemapInfo, 'pagesFileBytes'> {
  const messages = splitImage(file, bytes, { magic: PAGEMAP_MAGIC });
  if (messages.length === 0) throw new ImagesInvalidError(file, 'has no pagemap_head record');
  const head = decodeAs<{ pages_id: number }>(file, 'pagemap_head', messages[0]!, 0);
  const entries: PagemapEntryInfo[] = [];
  let pagesPresent = 0;
  let pagesInParent = 0;
  let pagesLazy = 0;
  for (let i = 1; i < messages.length; i++) {
    const e = decodeAs<RawPagemapEntry>(file, 'pagemap_entry', messages[i]!, i);
    const nrPages = e.nr_pages_64 ?? e.nr_pages;
    // Images of CRIU < 3.x carry only in_parent and no flags: no flags then means "present".
    const flags = e.flags ?? (e.in_parent ? PE_PARENT : PE_PRESENT);
    const entry: PagemapEntryInfo = {
      vaddr: e.vaddr,
      nrPages,
      flags,
      present: (flags & PE_PRESENT) !== 0,
      inParent: (flags & PE_PARENT) !== 0 || e.in_parent === true,
      lazy: (flags & PE_LAZY) !== 0,
    };
    if (entry.present) pagesPresent += nrPages;
    if (entry.inParent) pagesInParent += nrPages;
    if (entry.lazy) pagesLazy += nrPages;
    entries.push(entry);
  }
  return { pid, file, pagesId: head.pages_id, entries, pagesPresent, pagesInParent, pagesLazy };
}

interface RawDumpStats {
  freezing_time: number;
  frozen_time: number;
  memdump_time: number;
  memwrite_time: number;
  pages_scanned: number;
  pages_skipped_parent: number;
  pages_written: number;
  pages_lazy: number;
}
interface RawRestoreStats {
  pages_compared: number;
  pages_skipped_cow: number;
  forking_time: number;
  restore_time: number;
  pages_restored?: number;
}

function parseStatsEntry(file: string, bytes: Buffer): { dump?: RawDumpStats; restore?: RawRestoreStats } {
  const records = decodeImage<{ dump?: RawDumpStats; restore?: RawRestoreStats }>(file, bytes, { magic: STATS_MAGIC, service: true }, 'stats_entry');
  if (records.length !== 1) throw new ImagesInvalidError(file, `holds ${records.length} stats records, expected 1`);
  return records[0]!;
}

export function parseDumpStats(file: string, bytes: Buffer): DumpStatsInfo {
  const d = parseStatsEntry(file, bytes).dump;
  if (!d) throw new ImagesInvalidError(file, 'has no dump statistics');
  return {
    frozenTimeUs: d.frozen_time,
    memdumpTimeUs: d.memdump_time,
    pagesScanned: d.pages_scanned,
    pagesWritten: d.pages_written,
    pagesSkippedParent: d.pages_skipped_parent,
    freezingTimeUs: d.freezing_time,
    memwriteTimeUs: d.memwrite_time,
    pagesLazy: d.pages_lazy,
  };
}

export function parseRestoreStats(file: string, bytes: Buffer): RestoreStatsInfo {
  const r = parseStatsEntry(file, bytes).restore;
  if (!r) throw new ImagesInvalidError(file, 'has no restore statistics');
  return {
    pagesCompared: r.pages_compared,
    pagesSkippedCow: r.pages_skipped_cow,
    pagesRestored: r.pages_restored ?? null,
    forkingTimeUs: r.forking_time,
    restoreTimeUs: r.restore_time,
  };
}

export function parsePstree(file: string, bytes: Buffer): PstreeEntryInfo[] {
  return decodeImage<{ pid: number; ppid: number; pgid: number; sid: number; threads?: number[] }>(
    file,
    bytes,
    { magic: PSTREE_MAGIC },
    'pstree_entry',
  ).map((e) => ({ pid: e.pid, ppid: e.ppid, pgid: e.pgid, sid: e.sid, threads: e.threads ?? [] }));
}

/**
 * CRIU names its statistics files `stats-dump` and `stats-restore`, without the .img suffix of
 * every other image; a .img variant (some tools rename them) is accepted too.
 */
function statsFile(dir: string, what: 'dump' | 'restore', names?: string[]): string | null {
  for (const name of [`stats-${what}`, `stats-${what}.img`]) {
    if (names ? names.includes(name) : fs.existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return null;
}

/** The dump statistics CRIU wrote into an images dir (stats-dump). */
export function readDumpStats(dir: string): DumpStatsInfo {
  const file = statsFile(dir, 'dump') ?? path.join(dir, 'stats-dump');
  return parseDumpStats(file, readImageFile(file));
}

/** The restore statistics CRIU wrote into the images dir it restored from (stats-restore). */
export function readRestoreStats(dir: string): RestoreStatsInfo {
  const file = statsFile(dir, 'restore') ?? path.join(dir, 'stats-restore');
  return parseRestoreStats(file, readImageFile(file));
}

export function readInventory(dir: string): InventoryInfo {
  const file = path.join(dir, 'inventory.img');
  return parseInventory(file, readImageFile(file));
}

/** The root pid of a full dump (first pstree entry). */
export function readRootPid(dir: string): number {
  const file = path.join(dir, 'pstree.img');
  const tree = parsePstree(file, readImageFile(file));
  if (tree.length === 0) throw new ImagesInvalidError(file, 'holds no process');
  return tree[0]!.pid;
}

function readParentLink(dir: string): { link: string | null; target: string | null } {
  let link: string;
  try {
    link = fs.readlinkSync(path.join(dir, 'parent'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { link: null, target: null };
    if (code === 'EINVAL') return { link: null, target: path.join(dir, 'parent') }; // a real dir named parent
    throw new ImagesInvalidError(path.join(dir, 'parent'), `its parent link cannot be read (${code ?? (err as Error).message})`, { cause: err });
  }
  return { link, target: path.resolve(dir, link) };
}

/** Reads and summarises one images dir. Throws ImagesInvalidError if it is not a CRIU images dir. */
export function readLayer(dirArg: string): LayerInfo {
  const dir = path.resolve(dirArg);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'no such directory' : code === 'ENOTDIR' ? 'it is a file, not a directory' : (err as Error).message;
    throw new ImagesInvalidError(dir, problem, { cause: err, isDir: true });
  }
  if (!names.includes('inventory.img')) throw new ImagesInvalidError(dir, 'no inventory.img: this is not a CRIU images dir', { isDir: true });
  const inventory = readInventory(dir);
  const problems: string[] = [];
  let files = 0;
  let bytes = 0;
  const sizes = new Map<string, number>();
  for (const name of names) {
    const st = fs.lstatSync(path.join(dir, name));
    if (st.isFile()) {
      files++;
      bytes += st.size;
      sizes.set(name, st.size);
    }
  }
  const pagemaps: PagemapInfo[] = [];
  for (const name of names) {
    const m = /^pagemap-(\d+)\.img$/.exec(name);
    if (!m) continue;
    const file = path.join(dir, name);
    const pm = parsePagemap(file, readImageFile(file), Number(m[1]));
    const pagesFileBytes = sizes.get(`pages-${pm.pagesId}.img`) ?? null;
    if (pagesFileBytes === null && pm.pagesPresent > 0) problems.push(`${name}: pages-${pm.pagesId}.img is missing`);
    else if (pagesFileBytes !== null && pagesFileBytes !== pm.pagesPresent * PAGE_SIZE) {
      problems.push(`${name}: pages-${pm.pagesId}.img holds ${pagesFileBytes} bytes, the pagemap expects ${pm.pagesPresent * PAGE_SIZE}`);
    }
    pagemaps.push({ ...pm, pagesFileBytes });
  }
  pagemaps.sort((a, b) => a.pid - b.pid);
  const pstree = names.includes('pstree.img') ? parsePstree(path.join(dir, 'pstree.img'), readImageFile(path.join(dir, 'pstree.img'))) : null;
  const rootPid = pstree && pstree.length > 0 ? pstree[0]!.pid : pagemaps.length > 0 ? pagemaps[0]!.pid : null;
  const { link, target } = readParentLink(dir);
  const sum = (f: (p: PagemapInfo) => number): number => pagemaps.reduce((n, p) => n + f(p), 0);
  return {
    dir,
    kind: inventory.preDumpMode !== null ? 'pre-dump' : 'dump',
    inventory,
    parentLink: link,
    parentDir: target,
    pstree,
    rootPid,
    pagemaps,
    pagesPresent: sum((p) => p.pagesPresent),
    pagesInParent: sum((p) => p.pagesInParent),
    pagesLazy: sum((p) => p.pagesLazy),
    pagesBytes: [...sizes].filter(([n]) => /^pages-\d+\.img$/.test(n)).reduce((n, [, s]) => n + s, 0),
    files,
    bytes,
    dumpStats: statsFile(dir, 'dump', names) ? readDumpStats(dir) : null,
    restoreStats: statsFile(dir, 'restore', names) ? readRestoreStats(dir) : null,
    problems,
  };
}
