'use strict';
// Renders bench/results/<out>.md from the lab migrate task's result.json (bench/lab-migrate.sh).
//
//   node bench/lab-migrate-report.js RESULT_JSON BOOT_WALL_MS MIB PERMILLE INTERVAL_MS
const fs = require('node:fs');
const lib = require('./lib');

const [resultFile, bootMs, mib, permille, intervalMs] = process.argv.slice(2);
const result = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
const task = result.tasks.find((t) => t.kind === 'migrate');
if (!task || !task.ok) throw new Error(`the migrate task did not succeed: ${task ? task.error : 'absent'}`);
const check = result.tasks.find((t) => t.kind === 'check');

const runs = task.value.runs.map(({ from, to, result: r }) => {
  const final = r.checkpoint.layers[r.checkpoint.layers.length - 1];
  const preDumps = r.checkpoint.layers.filter((l) => l.kind === 'pre-dump');
  const criuFrozenMs = final.stats.frozenTimeUs / 1000;
  const criuRestoreMs = r.restore.restoreTimeUs / 1000;
  return {
    from,
    to,
    downtimeMs: r.downtime.totalMs,
    parts: r.downtime.parts,
    criuFrozenMs,
    criuRestoreMs,
    criuSumMs: criuFrozenMs + criuRestoreMs,
    ratio: r.downtime.totalMs / (criuFrozenMs + criuRestoreMs),
    preDumps: preDumps.length,
    stopReason: r.checkpoint.preDumps.stopReason,
    finalPagesWritten: final.stats.pagesWritten,
    finalPagesInParent: final.stats.pagesSkippedParent,
    finalBytes: final.bytes,
    preDumpBytes: preDumps.reduce((n, l) => n + l.bytes, 0),
    prefetch: r.prefetch,
    prefetchProblem: r.prefetchProblem,
  };
});

const col = (get, digits = 0) => lib.spread(runs.map(get), digits);
const partNames = Object.keys(runs[0].parts);
const MiB = 1024 * 1024;
const lines = [
  '# Migration with real pre-dumps (soft-dirty lab): `ferry migrate` vs CRIU\'s own dump + restore',
  '',
  `Written by \`bench/lab-migrate.sh\` (${new Date().toISOString()}). Guest: ${check ? check.value.kernel : '?'} under qemu TCG`,
  `(one vCPU), CRIU ${check ? check.value.criuVersion : '?'}; both hosts (lab-a, lab-b: \`ferry worker --no-workflows\`) run in`,
  'the guest; Temporal and MinIO are the host\'s dev stack, reached through forwarded ports; the workflow code runs on the host.',
  `Workload: ${mib} MiB (test/fixtures/workload), ${permille} per mille of its pages rewritten every ${intervalMs} ms, transparent`,
  `huge pages "${task.value.thp}"; migrated`,
  `${runs.length} times back and forth with \`ferry migrate --no-warm --wait\`; memory verified page by page after every migration.`,
  'TCG makes every step slower than on hardware (CPU-bound ones most: CRIU, hashing, the guest\'s network stack);',
  'read the ratios and the shape, not the milliseconds. Cells: median (min-max).',
  '',
  '| measure | value |',
  '|---|---:|',
  `| pre-dumps per migration | ${col((r) => r.preDumps)} |`,
  `| why pre-dumping stopped | ${[...new Set(runs.map((r) => r.stopReason))].join(', ')} |`,
  `| layers prefetched by the target before the freeze | ${col((r) => (r.prefetch ? r.prefetch.layers : 0))} |`,
  `| MiB prefetched before the freeze | ${col((r) => (r.prefetch ? r.prefetch.bytes / MiB : 0), 1)} |`,
  `| final layer: pages written / pages in parent | ${col((r) => r.finalPagesWritten)} / ${col((r) => r.finalPagesInParent)} |`,
  `| final layer MiB (moved inside the downtime) | ${col((r) => r.finalBytes / MiB, 1)} |`,
  `| ferry downtime ms (final dump start to running on target) | ${col((r) => r.downtimeMs)} |`,
  `| CRIU frozen ms (final dump, stats-dump) | ${col((r) => r.criuFrozenMs)} |`,
  `| CRIU restore ms (stats-restore) | ${col((r) => r.criuRestoreMs)} |`,
  `| CRIU dump + restore ms | ${col((r) => r.criuSumMs)} |`,
  ...partNames.map((p) => `| downtime part: ${p} ms | ${col((r) => r.parts[p] ?? 0)} |`),
  '',
  `Ratio downtime / (CRIU dump + restore), median of per-run ratios: **${lib.median(runs.map((r) => r.ratio)).toFixed(2)}x**`,
  `(runs: ${runs.map((r) => r.ratio.toFixed(2)).join(', ')}). Target (on hardware): within 1.2x.`,
  runs.some((r) => r.prefetchProblem) ? `Prefetch problems: ${runs.map((r) => r.prefetchProblem).filter(Boolean).join('; ')}` : 'No prefetch failed.',
  `Guest boot to power-off: ${(Number(bootMs) / 1000).toFixed(0)} s.`,
  '',
];
process.stdout.write(lines.join('\n'));
fs.writeFileSync(resultFile, JSON.stringify({ ...result, summary: runs }, null, 2));
