/**
 * What the store holds: every checkpoint with its manifest (or why it cannot be read), the
 * summaries `ferry checkpoints ls` prints, and one checkpoint described with its chain and the
 * checkpoints that build on it.
 */
import type { ListedCheckpoint } from './gc-plan';
import { mapLimit } from './local-files';
import type { ManifestStore } from './manifest-store';
import { META_CONCURRENCY, type StoreBucket } from './store-bucket';
import type { CheckpointDescription, CheckpointSummary } from './types';
import { CheckpointNotFound, isError } from '../core';

/** A checkpoint as listed; `problem` says why its manifest could not be read. */
export interface CataloguedCheckpoint extends ListedCheckpoint {
  problem?: string;
}

/** Ids of the checkpoints in `all` that build on layers of `checkpointId`. */
export function checkpointsBuildingOn(all: ListedCheckpoint[], checkpointId: string): string[] {
  return all.filter((m) => m.manifest?.baseLayers.some((b) => b.checkpointId === checkpointId)).map((m) => m.id);
}

function summary({ id, manifest, problem }: CataloguedCheckpoint): CheckpointSummary {
  if (!manifest) return { checkpointId: id, complete: false, createdAt: '', completedAt: null, layers: 0, bytes: 0, baseCheckpoints: [], problem };
  return {
    checkpointId: id,
    complete: manifest.complete,
    createdAt: manifest.createdAt,
    completedAt: manifest.completedAt,
    layers: manifest.baseLayers.length + manifest.layers.length,
    bytes: manifest.layers.reduce((a, l) => a + l.bytes, 0),
    baseCheckpoints: [...new Set(manifest.baseLayers.map((b) => b.checkpointId))],
  };
}

export class Catalogue {
  constructor(
    private readonly bucket: StoreBucket,
    private readonly manifests: ManifestStore,
  ) {}

  /** Every manifest in the store; unreadable ones come back as problems, not as failures. */
  async all(): Promise<CataloguedCheckpoint[]> {
    const ids = (await this.bucket.list(this.bucket.keys.checkpointsPrefix))
      .map((o) => this.bucket.keys.checkpointIdOf(o.key))
      .filter((id): id is string => id !== null);
    return mapLimit(ids, META_CONCURRENCY, async (id) => {
      try {
        return { id, manifest: await this.manifests.read(id) };
      } catch (err) {
        if ((err as Error).name === 'ManifestInvalid' || isError(err, CheckpointNotFound)) return { id, problem: (err as Error).message };
        throw err;
      }
    });
  }

  async list(): Promise<CheckpointSummary[]> {
    const summaries = (await this.all()).map(summary);
    return summaries.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.checkpointId.localeCompare(b.checkpointId)));
  }

  async describe(checkpointId: string): Promise<CheckpointDescription> {
    const manifest = await this.manifests.read(checkpointId);
    const chain = await this.manifests.resolveChain(manifest);
    const usedBy = checkpointsBuildingOn(await this.all(), checkpointId);
    return { manifest, chain, chainBytes: chain.reduce((a, e) => a + e.layer.bytes, 0), usedBy };
  }
}
