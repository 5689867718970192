/**
 * What the layer store needs to know about a local CRIU images dir: whether it is a pre-dump or
 * a dump, CRIU's stats and the dumped pid. Read minimally from the images themselves (the CRIU
 * driver's codec decodes the messages); a caller that knows more (the dump activity has the
 * DumpResult) passes it in and these readings are not used.
 *
 * TODO(criu readers): switch to readLayer() from src/criu once it is exported there.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeMessage } from '../criu/codec';
import { IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC, PSTREE_MAGIC, STATS_MAGIC } from '../criu/schema';
import type { DumpKind, DumpStats } from '../criu/types';
import { LocalLayerInvalid } from './errors';

export interface LocalLayerInfo {
  kind: DumpKind;
  stats: DumpStats;
  /** Root pid of the dumped tree (from pstree.img), or null for a pre-dump. */
  pid: number | null;
}

const EMPTY_STATS: DumpStats = { frozenTimeUs: 0, memdumpTimeUs: 0, pagesScanned: 0, pagesWritten: 0, pagesSkippedParent: 0 };

/** The first protobuf entry of an image file, after its two magics. */
function firstEntry(file: string, bytes: Buffer, magic: number, typeMagic: number): Uint8Array {
  if (bytes.length < 12 || bytes.readUInt32LE(0) !== magic || bytes.readUInt32LE(4) !== typeMagic) {
    throw new LocalLayerInvalid(path.dirname(file), `${path.basename(file)} does not start with CRIU's image magic`);
  }
  const len = bytes.readUInt32LE(8);
  if (12 + len > bytes.length) throw new LocalLayerInvalid(path.dirname(file), `${path.basename(file)} is truncated`);
  return bytes.subarray(12, 12 + len);
}

async function readOptional(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export async function readLocalLayerInfo(dir: string): Promise<LocalLayerInfo> {
  // A pre-dump writes memory only; a dump also writes the process tree.
  const pstreeFile = path.join(dir, 'pstree.img');
  const pstree = await readOptional(pstreeFile);
  let pid: number | null = null;
  if (pstree) {
    const entry = decodeMessage<{ pid: number }>('pstree_entry', firstEntry(pstreeFile, pstree, IMG_COMMON_MAGIC, PSTREE_MAGIC));
    pid = entry.pid;
  }
  const statsFile = path.join(dir, 'stats-dump.img');
  const statsBytes = await readOptional(statsFile);
  let stats = EMPTY_STATS;
  if (statsBytes) {
    const entry = decodeMessage<{ dump?: Record<string, number> }>('stats_entry', firstEntry(statsFile, statsBytes, IMG_SERVICE_MAGIC, STATS_MAGIC));
    const d = entry.dump ?? {};
    stats = {
      frozenTimeUs: d.frozen_time ?? 0,
      memdumpTimeUs: d.memdump_time ?? 0,
      pagesScanned: d.pages_scanned ?? 0,
      pagesWritten: d.pages_written ?? 0,
      pagesSkippedParent: d.pages_skipped_parent ?? 0,
    };
  }
  return { kind: pstree ? 'dump' : 'pre-dump', stats, pid };
}
