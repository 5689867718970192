// @ts-check
'use strict';
// Renders bench/results/<out>.md from the lab migrate task's result.json (bench/lab-migrate.sh),
// one column per --pre-dumps variant, and adds a "summary" (one entry per migration) to the raw file.
//
//   node bench/lab-migrate-report.js RESULT_JSON BOOT_WALL_MS MIB PERMILLE INTERVAL_MS
const fs = require('node:fs');
const lib = require('./lib');

/**
 * What this report reads of `ferry migrate --json` (MigrateResult in src/workflows/types.ts).
 * @typedef {object} Migration
 * @property {{ totalMs: number, parts: Record<string, number> }} downtime
 * @property {{ layers: Array<{ kind: string, bytes: number, stats: import('./results').DumpStats }>, preDumps: { stopReason: string, catchUps?: number } }} checkpoint
 * @property {{ restoreTimeUs: number }} restore
 * @property {{ bytes: number, layers: number } | null} prefetch
 * @property {string | null} prefetchProblem
 * @property {'direct' | 'store'} [path]
 * @property {string | null} [directProblem]
 */
/** @typedef {{ thp: string, runs: Array<{ preDumps?: number, catchUps?: number | null, direct?: boolean, from: string, to: string, result: Migration }> }} MigrateTaskValue */

const [resultFile, bootMs, mib, permille, intervalMs] = process.argv.slice(2);
/** @type {import('./results').LabRaw} */
const result = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
/** @type {import('./results').LabTask<MigrateTaskValue> | undefined} */
const task = result.tasks.find((t) => t.kind === 'migrate');
if (!task || !task.ok) throw new Error(`the migrate task did not succeed: ${task ? task.error : 'absent'}`);
const check = result.tasks.find((t) => t.kind === 'check');
const MiB = 1024 * 1024;

/** @type {import('./results').LabMigrateSummary[]} */
const runs = task.value.runs.map(({ preDumps: asked, catchUps: askedCatchUps, direct: askedDirect, from, to, result: r }) => {
  const final = r.checkpoint.layers[r.checkpoint.layers.length - 1];
  const preDumpLayers = r.checkpoint.layers.filter((l) => l.kind === 'pre-dump');
  const criuFrozenMs = final.stats.frozenTimeUs / 1000;
  const criuRestoreMs = r.restore.restoreTimeUs / 1000;
  return {
    asked: asked ?? null,
    askedCatchUps: askedCatchUps ?? null,
    askedDirect: askedDirect !== false,
    path: r.path ?? 'store',
    directProblem: r.directProblem ?? null,
    from,
    to,
    downtimeMs: r.downtime.totalMs,
    parts: r.downtime.parts,
    criuFrozenMs,
    criuRestoreMs,
    criuSumMs: criuFrozenMs + criuRestoreMs,
    ratio: r.downtime.totalMs / (criuFrozenMs + criuRestoreMs),
    preDumps: preDumpLayers.length,
    catchUps: r.checkpoint.preDumps.catchUps ?? 0,
    stopReason: r.checkpoint.preDumps.stopReason,
    finalPagesWritten: final.stats.pagesWritten,
    finalPagesInParent: final.stats.pagesSkippedParent,
    finalBytes: final.bytes,
    preDumpBytes: preDumpLayers.reduce((n, l) => n + l.bytes, 0),
    prefetch: r.prefetch,
    prefetchProblem: r.prefetchProblem,
  };
});

/** @param {import('./results').LabMigrateSummary} r */
const variantOf = (r) => `${r.asked}/${r.askedCatchUps}/${r.askedDirect}`;
const variants = [...new Set(runs.map(variantOf))];
const byVariant = variants.map((v) => runs.filter((r) => variantOf(r) === v));
/** @param {import('./results').LabMigrateSummary} r */
const name = (r) => baseName(r) + (r.askedDirect ? '' : ', final layers through the store (--no-direct)');
/** @param {import('./results').LabMigrateSummary} r */
const baseName = (r) =>
  r.asked === 0
    ? 'without pre-dumps (--pre-dumps 0)'
    : r.asked === null
      ? 'as configured'
      : r.askedCatchUps === 0
        ? `pre-dumps, no catch-ups (--pre-dumps ${r.asked} --catch-ups 0: ferry before catch-up rounds)`
        : `with pre-dumps (--pre-dumps ${r.asked})`;
/** @param {string} label @param {(r: import('./results').LabMigrateSummary) => number} get */
const row = (label, get, digits = 0) => `| ${label} | ${byVariant.map((rs) => lib.spread(rs.map(get), digits)).join(' | ')} |`;
const partNames = Object.keys(runs[0].parts);

const lines = [
  '# Migration with real pre-dumps (soft-dirty lab): `ferry migrate` vs CRIU\'s own dump + restore',
  '',
  `Written by \`bench/lab-migrate.sh\` (${new Date().toISOString()}). Guest: ${check ? check.value.kernel : '?'} under qemu TCG`,
  `(one vCPU), CRIU ${check ? check.value.criuVersion.replace(/^Version: /, '') : '?'}; both hosts (lab-a, lab-b: \`ferry worker --no-workflows\`) run in`,
  "the guest; Temporal and MinIO are the host's dev stack, reached through forwarded ports; the workflow code runs on the host.",
  `Workload: ${mib} MiB (test/fixtures/workload), ${permille} per mille of its pages rewritten every ${intervalMs} ms, transparent`,
  `huge pages "${task.value.thp}". ${runs.length} migrations with \`ferry migrate --no-warm --wait\`, back and forth, the variants`,
  'taking turns on the same process; memory verified page by page after every migration.',
  "TCG makes every step slower than on hardware (CPU-bound ones most: CRIU, hashing, the guest's network stack);",
  'read the ratios and the shape, not the milliseconds. Cells: median (min-max).',
  '',
  `| measure | ${byVariant.map((rs) => name(rs[0])).join(' | ')} |`,
  `|---|${variants.map(() => '---:').join('|')}|`,
  `| migrations | ${byVariant.map((rs) => rs.length).join(' | ')} |`,
  row('pre-dumps taken (catch-ups included)', (r) => r.preDumps),
  row('of which catch-up pre-dumps', (r) => r.catchUps),
  `| why pre-dumping stopped | ${byVariant.map((rs) => [...new Set(rs.map((r) => r.stopReason))].join(', ')).join(' | ')} |`,
  row('MiB prefetched by the target before the freeze', (r) => (r.prefetch ? r.prefetch.bytes / MiB : 0), 1),
  row('final layer: pages written', (r) => r.finalPagesWritten),
  row('final layer: pages referenced in the parent', (r) => r.finalPagesInParent),
  row('final layer MiB (moved inside the downtime)', (r) => r.finalBytes / MiB, 1),
  `| path of the final layers | ${byVariant.map((rs) => [...new Set(rs.map((r) => r.path))].join(', ')).join(' | ')} |`,
  row('**ferry downtime ms** (final dump start to running on target)', (r) => r.downtimeMs),
  row('CRIU frozen ms (final dump, stats-dump)', (r) => r.criuFrozenMs),
  row('CRIU restore ms (stats-restore)', (r) => r.criuRestoreMs),
  row('CRIU dump + restore ms', (r) => r.criuSumMs),
  ...partNames.map((p) => row(`downtime part: ${p}`, (r) => r.parts[p] ?? 0)),
  row('downtime / (CRIU dump + restore)', (r) => r.ratio, 2),
  '',
];
// The figure pre-dumps exist for: downtime with them vs without, per round (same process, same boot).
const withPre = byVariant.find((rs) => rs[0].asked !== 0 && rs[0].askedCatchUps !== 0 && rs[0].askedDirect);
const noCatchUps = byVariant.find((rs) => rs[0].asked !== 0 && rs[0].askedCatchUps === 0 && rs[0].askedDirect);
const without = byVariant.find((rs) => rs[0].asked === 0 && rs[0].askedDirect);
const throughStore = byVariant.find((rs) => rs[0].asked !== 0 && rs[0].askedCatchUps !== 0 && !rs[0].askedDirect);
/** Per-round ratios of downtime (a / b), rounds matched by position (same process, same boot). */
const perRound = (/** @type {import('./results').LabMigrateSummary[]} */ a, /** @type {import('./results').LabMigrateSummary[]} */ b) =>
  b.map((r, i) => (a[i] ? a[i].downtimeMs / r.downtimeMs : null)).filter((x) => x !== null);
if (withPre && without) {
  const pairs = perRound(without, withPre);
  lines.push(
    `Downtime without pre-dumps / with pre-dumps, per round: **${lib.median(pairs).toFixed(2)}x** (rounds: ${pairs.map((x) => x.toFixed(2)).join(', ')}).`,
    'The difference is what the final layer carries: with pre-dumps only the pages rewritten since the last pre-dump reach',
    'the target inside the downtime, the rest was prefetched by the target while the process ran.',
  );
}
if (withPre && noCatchUps) {
  const pairs = perRound(noCatchUps, withPre);
  const noneVsWithout = without ? perRound(without, noCatchUps) : [];
  lines.push(
    `Downtime without catch-up rounds / with them, per round: **${lib.median(pairs).toFixed(2)}x** (rounds: ${pairs.map((x) => x.toFixed(2)).join(', ')})` +
      (noneVsWithout.length ? `; without pre-dumps / pre-dumps without catch-ups: ${lib.median(noneVsWithout).toFixed(2)}x.` : '.'),
  );
}
if (withPre && throughStore) {
  const pairs = perRound(throughStore, withPre);
  lines.push(
    `Downtime with the final layers through the store / sent directly, per round: **${lib.median(pairs).toFixed(2)}x** (rounds: ${pairs.map((x) => x.toFixed(2)).join(', ')}).`,
  );
}
const fellBack = runs.filter((r) => r.askedDirect && r.path !== 'direct');
if (fellBack.length) lines.push(`Direct path not taken in ${fellBack.length} run(s): ${[...new Set(fellBack.map((r) => r.directProblem))].join('; ')}.`);
lines.push(
  `Downtime / (CRIU dump + restore), median of per-run ratios: ${byVariant.map((rs) => `${name(rs[0])} ${lib.median(rs.map((r) => r.ratio)).toFixed(2)}x`).join('; ')}.`,
  'Target (on hardware): within 1.2x; in this guest every step that moves bytes (uploads, downloads, the TLS of the direct',
  'link: a few MiB/s under TCG) or starts a process dominates.',
  runs.some((r) => r.prefetchProblem) ? `Prefetch problems: ${runs.map((r) => r.prefetchProblem).filter(Boolean).join('; ')}` : 'No prefetch failed.',
  `Guest boot to power-off: ${(Number(bootMs) / 1000).toFixed(0)} s.`,
  '',
);
process.stdout.write(lines.join('\n'));
fs.writeFileSync(resultFile, JSON.stringify({ ...result, summary: runs }, null, 2));
