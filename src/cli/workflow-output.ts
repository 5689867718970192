/**
 * Readable summaries of ferry's workflow results for the CLI (the JSON is the result itself).
 */
import type { DecisionRecord } from '../workflows/convergence-policy';
import type { CheckpointResult, LayerSummary, MigrateResult, PreDumpOutcome, RestoreResult } from '../workflows/types';
import { formatBytes, formatDuration } from './output';

const ms = (n: number | null | undefined): string => (n === null || n === undefined ? '-' : formatDuration(n));

function layerLine(l: LayerSummary): string {
  return (
    `  layer ${l.index}  ${l.kind.padEnd(8)}  ${String(l.stats.pagesWritten).padStart(8)} pages written, ` +
    `${String(l.stats.pagesSkippedParent).padStart(7)} in parent   frozen ${ms(l.stats.frozenTimeUs / 1000).padStart(8)}   ` +
    `${formatBytes(l.bytes).padStart(10)}   dump ${ms(l.dumpMs)}, upload ${ms(l.uploadMs)}`
  );
}

/** One line on why the final dump came when it did. */
function preDumpLine(p: PreDumpOutcome): string {
  if (!p.available) return `pre-dumps: none; ${p.detail}`;
  const catchUps = p.catchUps ? ` + ${p.catchUps} catch-up` : '';
  const warm = p.warmLayers ? ` (+${p.warmLayers} warm layer(s) reused)` : '';
  const predicted = p.predictedDowntimeMs !== null ? ` (predicted downtime ${ms(p.predictedDowntimeMs)})` : '';
  return `pre-dumps: ${p.count}${catchUps}${warm}; final dump because ${p.detail}${predicted}`;
}

function decisionLine(d: DecisionRecord): string {
  const where = d.afterLayer === null ? 'start' : `after layer ${d.afterLayer}`;
  const r = d.rates;
  const rates = `dump ${r.dumpMiBps} MiB/s (${r.sources.dump})${r.dirtyPagesPerS !== null ? `, dirtying ${r.dirtyPagesPerS} pages/s` : ''}, up ${r.uploadMiBps} / down ${r.downloadMiBps} MiB/s`;
  const p = d.prediction ? `; predicted ${ms(d.prediction.totalMs)} = frozen ${ms(d.prediction.frozenMs)} + move ${ms(d.prediction.moveMs)} for ${d.prediction.finalPages} pages` : '';
  return `    ${where}: ${d.next}${d.reason ? ` (${d.reason})` : ''}${p} [${rates}]`;
}

/** The convergence decisions, one per line, when the run recorded them. */
function decisionLines(p: PreDumpOutcome): string[] {
  return p.decisions && p.decisions.length > 0 ? ['  decisions:', ...p.decisions.map(decisionLine)] : [];
}

export function formatCheckpoint(r: CheckpointResult, url: string | null): string {
  return [
    `checkpoint ${r.checkpointId} of pid ${r.pid} (${r.process.comm}) on host ${r.host}: ${r.layers.length} layer(s), ` +
      `${formatBytes(r.bytesUploaded)} stored in ${ms(r.durationMs)}`,
    `  ${preDumpLine(r.preDumps)}`,
    ...decisionLines(r.preDumps),
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
    ...downtimeParts(r),
    `  ${preDumpLine(r.checkpoint.preDumps)}`,
    ...decisionLines(r.checkpoint.preDumps),
    ...prefetchLine(r),
    `  checkpoint ${r.checkpointId}: ${r.checkpoint.layers.length} layer(s), ${formatBytes(r.checkpoint.bytesUploaded)}; total ${ms(r.durationMs)}`,
    `  workflow ${r.workflowId}${url ? `: ${url}` : ''}`,
  ].join('\n');
}

/** The parts of the downtime, by the path the final layers took. */
function downtimeParts(r: MigrateResult): string[] {
  const p = r.downtime.parts;
  if (r.path === 'post-copy' && r.postCopy) {
    const pc = r.postCopy;
    return [
      `    lazy dump (all but memory) ${ms(p.finalDumpMs)}, sent directly to ${r.to} ${ms(p.directMs ?? 0)} (${formatBytes(pc.imagesBytes)}), restore ${ms(p.restoreMs)}, other ${ms(p.otherMs)}`,
      `  post-copy: running on ${r.to} ${ms(pc.runningOnTargetMs)} after the freeze; last page in ${ms(pc.lastPageAtMs)} after the freeze ` +
        `(${ms(pc.pagesAfterRunningMs)} of pages after it ran, ${formatBytes(pc.tunnelBytes)} through the tunnel)`,
      `  risk: ${pc.risk}`,
      ...(pc.sourceProblem ? [`  warning: ${pc.sourceProblem}`] : []),
      `  durable copy: --leave-running checkpoint ${pc.durableCopy.checkpointId} on ${r.to} (workflow ${pc.durableCopy.workflowId}); ` +
        `it froze the process again for ${ms(pc.durableCopy.frozenMs)}; stored ${ms(pc.durableCopy.storedAtMs)} after the freeze`,
    ];
  }
  const dump = `    final dump ${ms(p.finalDumpMs)} (CRIU frozen ${ms(p.frozenDumpMs)})`;
  if (r.path === 'direct' && r.direct) {
    return [
      `${dump}, sent directly to ${r.to} ${ms(p.directMs ?? r.direct.durationMs)} (${formatBytes(r.direct.bytes)}), restore ${ms(p.restoreMs)}, other ${ms(p.otherMs)}`,
      `  stored after the restore: upload ${ms(r.checkpoint.finalDump.uploadMs)}, commit ${ms(r.checkpoint.commitMs)} (outside the downtime)`,
    ];
  }
  return [
    `${dump}, upload ${ms(p.uploadMs)}, commit ${ms(p.commitMs)},`,
    `    download ${ms(p.downloadMs)}, restore ${ms(p.restoreMs)}, other ${ms(p.otherMs)}`,
    ...(r.directProblem ? [`  through the store, not directly: ${r.directProblem}`] : []),
  ];
}

/** What reached the target before the freeze; absent from results of migrations run before prefetching existed. */
function prefetchLine(r: MigrateResult): string[] {
  if (r.prefetchProblem) return [`  prefetch failed (${r.prefetchProblem}); what it had not fetched was downloaded inside the downtime`];
  if (!r.prefetch) return [];
  return [
    `  prefetched ${r.prefetch.layers} layer(s), ${formatBytes(r.prefetch.bytes)} to ${r.to} in ${ms(r.prefetch.durationMs)} while the process ran; ` +
      `inside the downtime: ${formatBytes(r.restore.bytesDownloaded)}`,
  ];
}
