// @ts-check
'use strict';
// Turns the raw numbers of bench/lab-converge.sh into markdown.
//   node bench/lab-converge.js RAW_RESULT_JSON TOTAL_MS "LOAD AT START"
// Environment: FERRY_LAB_MEM (the guest's memory, for the header).
const fs = require('node:fs');

const [rawFile, totalMs, load] = process.argv.slice(2);
const raw = JSON.parse(fs.readFileSync(rawFile, 'utf8'));
const task = raw.tasks.find((/** @type {any} */ t) => t.kind === 'converge');
const failed = raw.tasks.filter((/** @type {any} */ t) => !t.ok);
if (!task || failed.length > 0) throw new Error(`the run did not complete: ${failed.map((/** @type {any} */ t) => `${t.kind}: ${t.error}`).join('; ') || 'no converge task'}`);

/** @param {number[]} xs */
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** @param {number[]} xs */
const cell = (xs) => (xs.length > 1 ? `${fmt(median(xs))} (${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))})` : fmt(xs[0]));
/** @param {number} x */
const fmt = (x) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));

/** @type {Map<string, any[]>} */
const groups = new Map();
for (const r of task.value.runs) {
  const key = `${r.mib}|${r.dirtyPermille}`;
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key)?.push(r);
}

const lines = [
  `Written by \`bash bench/lab-converge.sh\` (${new Date().toISOString()}); raw numbers in \`bench/results/${rawFile.split('/').pop()}\`.`,
  '',
  `Guest: qemu TCG, 1 vCPU, ${process.env.FERRY_LAB_MEM ?? '4G'} of memory, Debian's 6.1 kernel (soft-dirty on), CRIU 4.1.1, THP "${task.value.thp}". ` +
    `Host: 2 cores, load average ${load} (1/5/15 min) at the start. One boot, ${(Number(totalMs) / 60000).toFixed(1)} min.`,
  '',
  'Per repetition, on one running workload (test/fixtures/workload, pages rewritten at random): a full dump',
  '(`leaveRunning`), then two chains in alternating order. "before": pre-dump, pre-dump, the upload pause,',
  'final dump (what ferry did until now). "after": the same, then catch-up pre-dumps as ferry\'s rules decide',
  '(`decideCatchUpEntry` / `decideAfterCatchUp` from dist/workflows, fed with these layers\' own numbers; checkpoint',
  'case: nothing moves inside the downtime), and the final dump straight after the last. The pause is the',
  `pre-dumps' bytes at the upload rate ferry measured on the lab's host (see the script), at least 1 s. Frozen = CRIU's`,
  'frozen time (stats-dump). Cells: median (min-max) over the repetitions; ratios are medians of per-run ratios.',
  '',
  '| size MiB | dirty / 200 ms | runs | full dump frozen ms | final frozen ms, before | final frozen ms, after | full / final before | full / final after | catch-ups (stop reason) | final pages before / after | last layer to final dump ms, before / after |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|',
];
for (const runs of groups.values()) {
  const r0 = runs[0];
  const us = (/** @type {any} */ s) => s.frozenTimeUs / 1000;
  const reasons = [...new Set(runs.map((r) => r.after.stopReason))].join(', ');
  lines.push(
    `| ${r0.mib} | ${(r0.dirtyPermille / 10).toFixed(1)}% | ${runs.length} | ${cell(runs.map((r) => us(r.full)))} | ${cell(runs.map((r) => us(r.before.final)))} | ` +
      `${cell(runs.map((r) => us(r.after.final)))} | ${cell(runs.map((r) => r.full.frozenTimeUs / r.before.final.frozenTimeUs))}x | ` +
      `${cell(runs.map((r) => r.full.frozenTimeUs / r.after.final.frozenTimeUs))}x | ${cell(runs.map((r) => r.after.catchUps))} (${reasons}) | ` +
      `${fmt(median(runs.map((r) => r.before.final.pagesWritten)))} / ${fmt(median(runs.map((r) => r.after.final.pagesWritten)))} | ` +
      `${fmt(median(runs.map((r) => r.before.lastLayerToFinalMs)))} / ${fmt(median(runs.map((r) => r.after.lastLayerToFinalMs)))} |`,
  );
}
lines.push('', 'Catch-up rounds per run (pages written by each catch-up pre-dump, then the final dump):', '');
for (const runs of groups.values()) {
  for (const r of runs) {
    const rounds = r.after.layers.slice(2, -1).map((/** @type {any} */ l) => l.pagesWritten);
    lines.push(`- ${r.mib} MiB, ${(r.dirtyPermille / 10).toFixed(1)}%, run ${r.rep + 1}: pause ${r.after.pauseMs} ms; catch-ups ${rounds.join(' -> ') || 'none'} -> final ${r.after.final.pagesWritten} (${r.after.stopReason})`);
  }
}
console.log(lines.join('\n'));
