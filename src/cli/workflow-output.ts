/**
 * Readable summaries of ferry's workflow results for the CLI (the JSON is the result itself).
 */
import type { CheckpointResult, LayerSummary, MigrateResult, RestoreResult } from '../workflows/types';
import { formatBytes } from './output';

const ms = (n: number | null | undefined): string => (n === null || n === undefined ? '-' : `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`);

function layerLine(l: LayerSummary): string {
  return (
    `  layer ${l.index}  ${l.kind.padEnd(8)}  ${String(l.stats.pagesWritten).padStart(8)} pages written, ` +
    `${String(l.stats.pagesSkippedParent).padStart(7)} in parent   frozen ${ms(l.stats.frozenTimeUs / 1000).padStart(8)}   ` +
    `${formatBytes(l.bytes).padStart(10)}   dump ${ms(l.dumpMs)}, upload ${ms(l.uploadMs)}`
  );
}

export function formatCheckpoint(r: CheckpointResult, url: string | null): string {
  const p = r.preDumps;
  const preDumpLine = p.available
    ? `pre-dumps: ${p.count}${p.warmLayers ? ` (+${p.warmLayers} warm layer(s) reused)` : ''}; stopped because ${p.detail}` +
      (p.predictedDowntimeMs !== null ? ` (predicted final freeze ${ms(p.predictedDowntimeMs)})` : '')
    : `pre-dumps: none; ${p.detail}`;
  return [
    `checkpoint ${r.checkpointId} of pid ${r.pid} (${r.process.comm}) on host ${r.host}: ${r.layers.length} layer(s), ` +
      `${formatBytes(r.bytesUploaded)} stored in ${ms(r.durationMs)}`,
    `  ${preDumpLine}`,
    ...r.layers.map(layerLine),
    `  final dump: frozen ${ms(r.finalDump.frozenMs)}, dump step ${ms(r.finalDump.durationMs)}, upload ${ms(r.finalDump.uploadMs)}, ` +
      `commit ${ms(r.commitMs)}; process ${r.leftRunning ? 'left running' : 'stopped (restore it with `ferry restore-checkpoint ' + r.checkpointId + ' --host HOST`)'}`,
    `  workflow ${r.workflowId}${url ? `: ${url}` : ''}`,
  ].join('\n');
}

export function formatRestore(r: RestoreResult, url: string | null): string {
  return [
    `restored checkpoint ${r.checkpointId} on host ${r.host} as pid ${r.pid}`,
    `  download ${formatBytes(r.bytesDownloaded)} in ${r.layers} layer(s): ${ms(r.downloadMs)}; restore ${ms(r.restoreMs)}` +
      (r.restoreTimeUs !== null ? ` (CRIU: ${ms(r.restoreTimeUs / 1000)})` : ''),
    `  workflow ${r.workflowId}${url ? `: ${url}` : ''}`,
  ].join('\n');
}

export function formatMigrate(r: MigrateResult, url: string | null): string {
  const d = r.downtime;
  return [
    `migrated pid ${r.pid} from ${r.from} to ${r.to}: now pid ${r.newPid} on ${r.to}`,
    `  downtime ${ms(d.totalMs)} (freeze on ${r.from} to running on ${r.to}):`,
    `    final dump ${ms(d.parts.finalDumpMs)} (CRIU frozen ${ms(d.parts.frozenDumpMs)}), upload ${ms(d.parts.uploadMs)}, commit ${ms(d.parts.commitMs)},`,
    `    download ${ms(d.parts.downloadMs)}, restore ${ms(d.parts.restoreMs)}, other ${ms(d.parts.otherMs)}`,
    `  ${r.checkpoint.preDumps.available ? `pre-dumps: ${r.checkpoint.preDumps.count}; ${r.checkpoint.preDumps.detail}` : `pre-dumps: none; ${r.checkpoint.preDumps.detail}`}`,
    ...prefetchLine(r),
    `  checkpoint ${r.checkpointId}: ${r.checkpoint.layers.length} layer(s), ${formatBytes(r.checkpoint.bytesUploaded)}; total ${ms(r.durationMs)}`,
    `  workflow ${r.workflowId}${url ? `: ${url}` : ''}`,
  ].join('\n');
}

/** What reached the target before the freeze; absent from results of migrations run before prefetching existed. */
function prefetchLine(r: MigrateResult): string[] {
  if (r.prefetchProblem) return [`  prefetch failed (${r.prefetchProblem}); the whole chain was downloaded inside the downtime`];
  if (!r.prefetch) return [];
  return [
    `  prefetched ${r.prefetch.layers} layer(s), ${formatBytes(r.prefetch.bytes)} to ${r.to} in ${ms(r.prefetch.durationMs)} while the process ran; ` +
      `inside the downtime: ${formatBytes(r.restore.bytesDownloaded)}`,
  ];
}
