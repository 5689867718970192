/**
 * Removing what the store no longer needs: one checkpoint on request (`delete`), or everything
 * retention lets go (`gc`), abandoned multipart uploads included. What to remove is decided in
 * gc-plan.ts; this module lists, asks and deletes.
 */
import { AbortMultipartUploadCommand } from '@aws-sdk/client-s3';
import { CheckpointInUse } from '../core';
import { checkpointsBuildingOn, type Catalogue } from './catalogue';
import { blobsToSweep, planRetention, referencedBlobs, warmScheduleIds, isWarmChain, type ListedCheckpoint } from './gc-plan';
import { mapLimit } from './local-files';
import type { ManifestStore } from './manifest-store';
import { listMultipartUploads } from './multipart-upload';
import { META_CONCURRENCY, type StoreBucket } from './store-bucket';
import type { DeleteResult, GcOptions, GcResult } from './types';

const DAY_MS = 24 * 60 * 60 * 1000;
/** A deleted schedule's chain still serves a migrate for about a week of nights. */
export const DEFAULT_KEEP_RELEASED_MS = 7 * DAY_MS;

export class StoreCleanup {
  constructor(
    private readonly bucket: StoreBucket,
    private readonly manifests: ManifestStore,
    private readonly catalogue: Catalogue,
  ) {}

  /**
   * Deletes a checkpoint: its manifest first (from then on it no longer exists for readers),
   * then the blobs no other checkpoint uses. Refused while another checkpoint builds on it.
   */
  async delete(checkpointId: string): Promise<DeleteResult> {
    const keys = this.bucket.keys;
    const manifest = await this.manifests.read(checkpointId);
    const all = await this.catalogue.all();
    const others = all.filter((m) => m.id !== checkpointId);
    const usedBy = checkpointsBuildingOn(others, checkpointId);
    if (usedBy.length > 0) throw new CheckpointInUse(checkpointId, usedBy);
    if (others.some((m) => !m.manifest)) {
      // An unreadable manifest might reference our blobs: keep them, remove only the manifest.
      await this.bucket.delete(keys.manifest(checkpointId));
      return { checkpointId, blobsDeleted: 0, bytesFreed: 0 };
    }
    const stillUsed = referencedBlobs(others, [], (f) => keys.blobOf(f));
    await this.bucket.delete(keys.manifest(checkpointId));
    const mine = new Map<string, number>();
    for (const l of manifest.layers) for (const f of l.files) if (!stillUsed.has(keys.blobOf(f))) mine.set(keys.blobOf(f), f.size);
    await mapLimit([...mine.keys()], META_CONCURRENCY, (key) => this.bucket.delete(key));
    return { checkpointId, blobsDeleted: mine.size, bytesFreed: [...mine.values()].reduce((a, b) => a + b, 0) };
  }

  /**
   * Keeps the `keepLast` most recent complete checkpoints plus every checkpoint they build on,
   * keeps warm chains whose schedule exists (or was released lately; all of them when the
   * schedules cannot be checked), removes the rest (incomplete ones only once older than the grace
   * period), then sweeps blobs
   * no kept manifest references and multipart uploads abandoned for longer than the grace period.
   * Unreadable manifests are never deleted, and while one exists no blob is swept.
   */
  async gc(opts: GcOptions): Promise<GcResult> {
    if (!Number.isSafeInteger(opts.keepLast) || opts.keepLast < 0) throw new RangeError(`keepLast must be a whole number >= 0, got ${opts.keepLast}`);
    const keys = this.bucket.keys;
    const graceMs = opts.graceMs ?? DAY_MS;
    const now = opts.now ?? Date.now();
    const dryRun = Boolean(opts.dryRun);
    const all = await this.catalogue.all();
    const schedules = await this.liveSchedules(all, opts);
    const { kept, keptAsBase, deleted, reasons } = planRetention(all, {
      keepLast: opts.keepLast,
      now,
      graceMs,
      keepReleasedMs: opts.keepReleasedMs ?? DEFAULT_KEEP_RELEASED_MS,
      liveSchedules: schedules.live,
      ...(schedules.status.state === 'unavailable' ? { schedulesUnknownBecause: schedules.status.reason } : {}),
    });
    const referenced = referencedBlobs(all, deleted, (f) => keys.blobOf(f));
    // While a manifest is unreadable, nobody can tell which blobs it needs: sweep none.
    const canSweep = all.every((m) => m.manifest);
    const blobs = canSweep ? await this.bucket.list(keys.blobsRoot) : [];
    const sweep = blobsToSweep(blobs, referenced, (key) => keys.isBlobKey(key), now, graceMs);
    const stale = await this.staleUploads(now, graceMs);

    if (!dryRun) {
      await mapLimit(deleted, META_CONCURRENCY, (id) => this.bucket.delete(keys.manifest(id)));
      await mapLimit(sweep, META_CONCURRENCY, (b) => this.bucket.delete(b.key));
      await mapLimit(stale, META_CONCURRENCY, (u) =>
        this.bucket.call(`aborting the upload of ${u.key}`, u.key, () =>
          this.bucket.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket.name, Key: u.key, UploadId: u.uploadId })),
        ),
      );
    }
    return {
      kept: [...kept].sort(),
      keptAsBase: [...keptAsBase].sort(),
      deleted: deleted.sort(),
      decisions: all
        .map((c) => ({ checkpointId: c.id, action: deleted.includes(c.id) ? ('delete' as const) : ('keep' as const), reason: reasons.get(c.id) ?? '' }))
        .sort((a, b) => a.checkpointId.localeCompare(b.checkpointId)),
      schedules: schedules.status,
      blobsDeleted: sweep.length,
      bytesFreed: sweep.reduce((a, b) => a + b.size, 0),
      uploadsAborted: stale.length,
      dryRun,
    };
  }

  /**
   * Which schedules exist, asked only when a warm chain is stored (so gc stays a storage-only
   * recovery tool otherwise). A failed lookup is not an error: it means every warm chain stays.
   */
  private async liveSchedules(all: ListedCheckpoint[], opts: GcOptions): Promise<{ live: Set<string> | null; status: GcResult['schedules'] }> {
    if (!all.some(isWarmChain)) return { live: new Set(), status: { state: 'not-needed' } };
    if (!opts.schedules) return { live: null, status: { state: 'unavailable', reason: 'no schedule lookup was given' } };
    try {
      return { live: await opts.schedules.existing(warmScheduleIds(all)), status: { state: 'checked' } };
    } catch (err) {
      return { live: null, status: { state: 'unavailable', reason: `${opts.schedules.source} did not answer: ${(err as Error).message}` } };
    }
  }

  /** Multipart uploads of blobs started at least `graceMs` ago. */
  private async staleUploads(now: number, graceMs: number): Promise<Array<{ key: string; uploadId: string }>> {
    const uploads = await this.bucket.call('listing of unfinished uploads', undefined, () =>
      listMultipartUploads(this.bucket.client, this.bucket.name, this.bucket.keys.blobsRoot),
    );
    const out: Array<{ key: string; uploadId: string }> = [];
    for (const u of uploads) {
      if (u.Key && u.UploadId && u.Initiated && now - u.Initiated.getTime() >= graceMs) out.push({ key: u.Key, uploadId: u.UploadId });
    }
    return out;
  }
}
