/**
 * What the layer store records about a local CRIU images dir: pre-dump or dump, CRIU's stats and
 * the dumped pid, read through the CRIU layer's image readers (src/criu readLayer). A caller that
 * knows more (the dump activity has the DumpResult) passes it in instead.
 */
import { readLayer } from '../criu';
import type { DumpKind, DumpStats } from '../criu/types';
import { LocalLayerInvalid } from '../core';

export interface LocalLayerInfo {
  kind: DumpKind;
  stats: DumpStats;
  /** Root pid of the dumped tree (pstree.img, else the pre-dump's pagemap pid), or null. */
  pid: number | null;
}

const NO_STATS: DumpStats = { frozenTimeUs: 0, memdumpTimeUs: 0, pagesScanned: 0, pagesWritten: 0, pagesSkippedParent: 0 };

export async function readLocalLayerInfo(dir: string): Promise<LocalLayerInfo> {
  let info;
  try {
    info = readLayer(dir);
  } catch (err) {
    if ((err as Error).name === 'ImagesInvalidError') throw new LocalLayerInvalid(dir, (err as Error).message, { cause: err });
    throw err;
  }
  const s = info.dumpStats;
  return {
    kind: info.kind,
    stats: s
      ? { frozenTimeUs: s.frozenTimeUs, memdumpTimeUs: s.memdumpTimeUs, pagesScanned: s.pagesScanned, pagesWritten: s.pagesWritten, pagesSkippedParent: s.pagesSkippedParent }
      : NO_STATS,
    pid: info.rootPid,
  };
}
