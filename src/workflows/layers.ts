/**
 * What workflows derive from a dumped layer: the summary that progress and results show, and the
 * reference the next layer of the chain needs to its parent.
 */
import type { LayerDump, LayerRef } from '../activities/types';
import type { LayerSummary } from './types';

/** `uploadMs` is null while the layer is not stored yet. */
export function summarize(dump: LayerDump, uploadMs: number | null = null): LayerSummary {
  return {
    index: dump.index,
    kind: dump.kind,
    parentIndex: dump.parentIndex,
    stats: dump.stats,
    bytes: dump.bytes,
    dumpMs: dump.durationMs,
    uploaded: uploadMs !== null,
    uploadMs,
    imagesDir: dump.imagesDir,
  };
}

export function parentRef(layer: LayerRef): LayerRef {
  return { index: layer.index, kind: layer.kind, imagesDir: layer.imagesDir };
}
