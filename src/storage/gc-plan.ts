/**
 * The decisions of `gc`, without any I/O: which checkpoints stay, which go, which blobs nothing
 * kept references any more. store-cleanup.ts lists the bucket, asks these, and deletes what they say.
 */
import type { CheckpointManifest, LayerFile } from './types';

/** A checkpoint as listed: its manifest, or none when it could not be read. */
export interface ListedCheckpoint {
  id: string;
  manifest?: CheckpointManifest;
}

export interface RetentionPlan {
  kept: Set<string>;
  /** Not kept on their own, but a kept checkpoint builds on their layers. */
  keptAsBase: Set<string>;
  deleted: string[];
}

/**
 * Keeps the `keepLast` most recent complete checkpoints, every unreadable one (a person's call),
 * every incomplete one younger than `graceMs` (a push may still be writing it), and whatever the
 * kept ones build on, transitively. Everything else is to be deleted.
 */
export function planRetention(all: ListedCheckpoint[], keepLast: number, now: number, graceMs: number): RetentionPlan {
  const finishedAt = (m: CheckpointManifest): string => m.completedAt ?? m.createdAt;
  const complete = all.filter((c) => c.manifest?.complete).sort((a, b) => (finishedAt(a.manifest!) < finishedAt(b.manifest!) ? 1 : -1));
  const kept = new Set(complete.slice(0, keepLast).map((c) => c.id));
  for (const c of all) {
    if (!c.manifest) kept.add(c.id);
    else if (!c.manifest.complete && now - Date.parse(c.manifest.createdAt) < graceMs) kept.add(c.id);
  }
  const byId = new Map(all.map((c) => [c.id, c]));
  const keptAsBase = new Set<string>();
  const stack = [...kept];
  while (stack.length > 0) {
    const id = stack.pop()!;
    for (const base of byId.get(id)?.manifest?.baseLayers ?? []) {
      if (!kept.has(base.checkpointId) && !keptAsBase.has(base.checkpointId)) {
        keptAsBase.add(base.checkpointId);
        stack.push(base.checkpointId);
      }
    }
  }
  const deleted = all.map((c) => c.id).filter((id) => !kept.has(id) && !keptAsBase.has(id));
  return { kept, keptAsBase, deleted };
}

/** Blob keys the checkpoints that stay (all but `deleted`) reference. */
export function referencedBlobs(all: ListedCheckpoint[], deleted: Iterable<string>, blobOf: (file: LayerFile) => string): Set<string> {
  const gone = new Set(deleted);
  const referenced = new Set<string>();
  for (const c of all) {
    if (gone.has(c.id)) continue;
    for (const layer of c.manifest?.layers ?? []) for (const f of layer.files) referenced.add(blobOf(f));
  }
  return referenced;
}

/**
 * Blobs to sweep: unreferenced, and older than `graceMs` (a younger one may belong to a push whose
 * manifest is not written yet). A blob of unknown age is left alone.
 */
export function blobsToSweep<B extends { key: string; lastModified: Date | undefined }>(
  blobs: B[],
  referenced: Set<string>,
  isBlobKey: (key: string) => boolean,
  now: number,
  graceMs: number,
): B[] {
  return blobs.filter((b) => isBlobKey(b.key) && !referenced.has(b.key) && b.lastModified !== undefined && now - b.lastModified.getTime() >= graceMs);
}
