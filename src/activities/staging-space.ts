/**
 * Room on the staging disk for a dump, checked before CRIU runs. A full disk would otherwise be
 * found by CRIU half-way through writing the images: nothing is lost then (a pre-dump leaves the
 * process running, a failed final dump resumes it), but the step fails late and unclearly. Here
 * it is refused at once, with the numbers and what to do.
 *
 * The need is predicted, not known: a full dump writes about the tree's resident memory; an
 * incremental one writes what changed since its parent, guessed as the parent layer's size (the
 * layers of a converging chain shrink), never more than the full dump would write.
 */
import { statfs } from 'node:fs/promises';
import { StagingSpaceLow } from '../core';

/** Room kept free besides the images: CRIU's logs, markers, other host names on the same disk. */
export const SPACE_MARGIN_BYTES = 32 * 1024 * 1024;

export interface DumpSpaceNeed {
  /** Bytes a full dump of the tree would write (resident memory), or null when unknown. */
  dumpableBytes: number | null;
  /** Bytes of the parent layer for an incremental dump, or null for a full dump. */
  parentBytes: number | null;
}

/** Predicted bytes a dump writes, or null when nothing is known to predict from. */
export function predictedDumpBytes(need: DumpSpaceNeed): number | null {
  if (need.parentBytes === null) return need.dumpableBytes;
  return need.dumpableBytes === null ? need.parentBytes : Math.min(need.dumpableBytes, need.parentBytes);
}

/** Free bytes for an unprivileged writer... and for root, which CRIU runs as: the filesystem's available blocks. */
export async function freeBytes(dir: string): Promise<number> {
  const st = await statfs(dir);
  return st.bavail * st.bsize;
}

const mib = (n: number): string => `${(n / (1024 * 1024)).toFixed(1)} MiB`;

/** Throws StagingSpaceLow when the staging disk cannot hold the predicted dump plus a margin. */
export async function ensureRoomForDump(stagingRoot: string, what: string, need: DumpSpaceNeed): Promise<void> {
  const predicted = predictedDumpBytes(need);
  if (predicted === null) return;
  const free = await freeBytes(stagingRoot);
  const wanted = predicted + SPACE_MARGIN_BYTES;
  if (free >= wanted) return;
  const basis = need.parentBytes === null ? 'the process tree\'s resident memory' : 'the size of its parent layer';
  throw new StagingSpaceLow(
    `the staging dir ${stagingRoot} has ${mib(free)} free; ${what} needs about ${mib(predicted)} (${basis}) plus ${mib(SPACE_MARGIN_BYTES)} of margin. ` +
      'Nothing was dumped and the process runs on: free space there, or point FERRY_STAGING_DIR at a larger disk',
  );
}
