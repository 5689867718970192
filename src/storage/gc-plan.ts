/**
 * The decisions of `gc`, without any I/O: which checkpoints stay, which go, which blobs nothing
 * kept references any more. store-cleanup.ts lists the bucket, asks these, and deletes what they say.
 */
import { WARM_CHAIN_PREFIX } from '../core/ids';
import type { CheckpointManifest, LayerFile } from './types';

/** A checkpoint as listed: its manifest, or none when it could not be read. */
export interface ListedCheckpoint {
  id: string;
  manifest?: CheckpointManifest;
}

export interface RetentionRules {
  /** Keep this many of the most recent complete checkpoints (0: none on their own account). */
  keepLast: number;
  now: number;
  /** Incomplete checkpoints younger than this may still be being written. */
  graceMs: number;
  /**
   * Ids of the schedules that exist now, or null when nobody could tell (Temporal unreachable):
   * then every warm chain is kept, since deleting a live one costs the next migrate its warm start.
   */
  liveSchedules: ReadonlySet<string> | null;
  /** Why liveSchedules is null, quoted in the reasons. */
  schedulesUnknownBecause?: string;
  /** How long a warm chain no existing schedule owns is kept after its last pre-dump. */
  keepReleasedMs: number;
}

export interface RetentionPlan {
  kept: Set<string>;
  /** Not kept on their own, but a kept checkpoint builds on their layers. */
  keptAsBase: Set<string>;
  deleted: string[];
  /** Why, for every checkpoint listed: kept, kept as base, or deleted. */
  reasons: Map<string, string>;
}

/** A stored chain of a schedule's pre-dumps (incomplete by nature), recorded as such or named so. */
export function isWarmChain(c: ListedCheckpoint): boolean {
  const m = c.manifest;
  return m !== undefined && !m.complete && (m.warm !== undefined || c.id.startsWith(WARM_CHAIN_PREFIX));
}

/** The schedule ids the warm chains in `all` record: what gc has to ask about. */
export function warmScheduleIds(all: ListedCheckpoint[]): string[] {
  const ids = new Set<string>();
  for (const c of all) if (isWarmChain(c)) for (const id of c.manifest!.warm?.scheduleIds ?? []) ids.add(id);
  return [...ids].sort();
}

/** When a chain was last written to: each nightly run rewrites its manifest and adds a layer. */
function lastWrittenAt(m: CheckpointManifest): number {
  return Math.max(Date.parse(m.createdAt), ...m.layers.map((l) => Date.parse(l.storedAt)).filter((t) => !Number.isNaN(t)));
}

/** 7d, 36h, 90m, 45s: durations as a person would give them to the flags. */
export function formatDuration(ms: number): string {
  const units: Array<[string, number]> = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  for (const [unit, size] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

const iso = (t: number): string => new Date(t).toISOString();

/**
 * The warm-chain rule: whether a schedule's chain stays, and why. A chain it lets go may still be
 * kept by the grace period or as a kept checkpoint's base.
 */
function warmVerdict(c: ListedCheckpoint, rules: RetentionRules): { keep: boolean; reason: string } {
  const m = c.manifest!;
  const owners = m.warm?.scheduleIds ?? [];
  const named = owners.length ? `schedule ${owners.join(', ')}` : 'a schedule it does not record (written before ferry recorded it)';
  if (rules.liveSchedules === null) {
    return { keep: true, reason: `warm chain of ${named}: kept because gc could not check which schedules exist (${rules.schedulesUnknownBecause ?? 'no schedule lookup'})` };
  }
  const alive = owners.filter((id) => rules.liveSchedules!.has(id));
  if (alive.length) return { keep: true, reason: `warm chain of schedule ${alive.join(', ')}, which exists` };
  const last = lastWrittenAt(m);
  const until = last + rules.keepReleasedMs;
  const gone = owners.length ? `${named} no longer exists` : `no schedule is recorded for it`;
  if (rules.now < until) {
    return { keep: true, reason: `warm chain released (${gone}); kept until ${iso(until)}, ${formatDuration(rules.keepReleasedMs)} after its last pre-dump at ${iso(last)}` };
  }
  return { keep: false, reason: `warm chain released (${gone}); its last pre-dump at ${iso(last)} is more than ${formatDuration(rules.keepReleasedMs)} ago` };
}

/**
 * Keeps the `keepLast` most recent complete checkpoints, every unreadable one (a person's call),
 * every incomplete one younger than `graceMs` (a push may still be writing it), every warm chain
 * whose schedule exists or was released less than `keepReleasedMs` ago, and whatever the kept ones
 * build on, transitively. Everything else is to be deleted. Each decision comes with its reason.
 */
export function planRetention(all: ListedCheckpoint[], rules: RetentionRules): RetentionPlan {
  const { keepLast, now, graceMs } = rules;
  const reasons = new Map<string, string>();
  const finishedAt = (m: CheckpointManifest): string => m.completedAt ?? m.createdAt;
  const complete = all.filter((c) => c.manifest?.complete).sort((a, b) => (finishedAt(a.manifest!) < finishedAt(b.manifest!) ? 1 : -1));
  const kept = new Set<string>();
  complete.forEach((c, i) => {
    if (i < keepLast) {
      kept.add(c.id);
      reasons.set(c.id, `one of the ${keepLast} most recent complete checkpoints (completed ${finishedAt(c.manifest!)})`);
    } else {
      reasons.set(c.id, keepLast === 0 ? 'complete, and --keep-last 0 keeps no complete checkpoint' : `complete, but older than the ${keepLast} most recent complete ones`);
    }
  });
  for (const c of all) {
    const m = c.manifest;
    if (!m) {
      kept.add(c.id);
      reasons.set(c.id, 'its manifest cannot be read: left for a person to look at');
      continue;
    }
    if (m.complete) continue;
    const young = now - Date.parse(m.createdAt) < graceMs;
    const warm = isWarmChain(c) ? warmVerdict(c, rules) : null;
    if (warm?.keep) {
      kept.add(c.id);
      reasons.set(c.id, warm.reason);
    } else if (young) {
      kept.add(c.id);
      reasons.set(c.id, `incomplete and younger than the grace period (${formatDuration(graceMs)}, created ${m.createdAt}): a push may still be writing it`);
    } else {
      reasons.set(c.id, warm?.reason ?? `incomplete and older than the grace period (${formatDuration(graceMs)}, created ${m.createdAt}): an abandoned push`);
    }
  }
  const byId = new Map(all.map((c) => [c.id, c]));
  const keptAsBase = new Set<string>();
  const stack = [...kept];
  while (stack.length > 0) {
    const id = stack.pop()!;
    for (const base of byId.get(id)?.manifest?.baseLayers ?? []) {
      if (!kept.has(base.checkpointId) && !keptAsBase.has(base.checkpointId)) {
        keptAsBase.add(base.checkpointId);
        reasons.set(base.checkpointId, `kept checkpoint ${id} builds on its layers`);
        stack.push(base.checkpointId);
      }
    }
  }
  const deleted = all.map((c) => c.id).filter((id) => !kept.has(id) && !keptAsBase.has(id));
  return { kept, keptAsBase, deleted, reasons };
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
