#!/usr/bin/env node
// Renders bench/results/chain-raw.json (bench/lab-chain.sh) as Markdown on stdout and as a plot,
// BENCHMARKS-chain.svg next to BENCHMARKS.md.
//   node bench/chain-report.js [boot wall ms]
// @ts-check
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
/** @type {import('./results').ChainRaw} */
const raw = JSON.parse(fs.readFileSync(path.join(__dirname, 'results', 'chain-raw.json'), 'utf8'));
const bootMs = Number(process.argv[2] || 0);
const MiB = 1048576;
/** @param {number} us */
const ms = (us) => (us / 1000).toFixed(0);

let cum = 0;
const rows = raw.layers.map((l) => {
  cum += l.bytes;
  return { ...l, cumMiB: cum / MiB };
});
const totalMiB = cum / MiB + raw.final.bytes / MiB;

function svg() {
  const W = 760;
  const H = 300;
  const M = { l: 60, r: 70, t: 40, b: 45 };
  const pw = W - M.l - M.r;
  const ph = H - M.t - M.b;
  const n = rows.length;
  const X = (/** @type {number} */ i) => M.l + ((i - 1) / Math.max(1, n - 1)) * pw;
  const fMax = Math.max(...rows.map((r) => r.stats.frozenTimeUs / 1000)) * 1.1 || 1;
  const cMax = Math.max(...rows.map((r) => r.cumMiB)) * 1.1 || 1;
  const Yf = (/** @type {number} */ v) => M.t + ph - (v / fMax) * ph;
  const Yc = (/** @type {number} */ v) => M.t + ph - (v / cMax) * ph;
  const p = [];
  p.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  p.push('<rect width="100%" height="100%" fill="white"/>');
  p.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">Chain of ${n} pre-dump layers, ${raw.workload.mib} MiB workload (soft-dirty lab, TCG; one run)</text>`);
  p.push(`<rect x="${M.l}" y="${M.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  for (let k = 0; k <= 4; k++) {
    const y = M.t + ph - (k / 4) * ph;
    p.push(`<line x1="${M.l}" x2="${M.l + pw}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    p.push(`<text x="${M.l - 4}" y="${y + 4}" text-anchor="end" fill="#1f6fb4">${((fMax * k) / 4).toFixed(0)}</text>`);
    p.push(`<text x="${M.l + pw + 4}" y="${y + 4}" fill="#c0392b">${((cMax * k) / 4).toFixed(0)}</text>`);
  }
  for (const r of rows) if (r.n === 1 || r.n % 5 === 0) p.push(`<text x="${X(r.n)}" y="${M.t + ph + 15}" text-anchor="middle">${r.n}</text>`);
  p.push(`<text x="${M.l + pw / 2}" y="${M.t + ph + 32}" text-anchor="middle" fill="#555">layer number (chain length)</text>`);
  p.push(`<text x="${M.l}" y="${M.t - 6}" fill="#1f6fb4">pre-dump frozen ms</text>`);
  p.push(`<text x="${M.l + pw}" y="${M.t - 6}" text-anchor="end" fill="#c0392b">stored MiB, cumulative</text>`);
  p.push(`<polyline fill="none" stroke="#1f6fb4" stroke-width="2" points="${rows.map((r) => `${X(r.n).toFixed(1)},${Yf(r.stats.frozenTimeUs / 1000).toFixed(1)}`).join(' ')}"/>`);
  p.push(`<polyline fill="none" stroke="#c0392b" stroke-width="2" points="${rows.map((r) => `${X(r.n).toFixed(1)},${Yc(r.cumMiB).toFixed(1)}`).join(' ')}"/>`);
  p.push('</svg>');
  return `${p.join('\n')}\n`;
}
fs.writeFileSync(path.join(root, 'BENCHMARKS-chain.svg'), svg());

/** Early vs late layers, computed: does a step get dearer as the chain grows? */
function reading() {
  if (rows.length < 6) return [];
  const med = (/** @type {number[]} */ xs) => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const third = Math.floor((rows.length - 1) / 3);
  const early = rows.slice(1, 1 + third);
  const late = rows.slice(rows.length - third);
  /** @param {typeof rows} xs */
  const span = (xs) => `layers ${xs[0].n}-${xs[xs.length - 1].n}`;
  /** @param {typeof rows} xs @param {(r: (typeof rows)[number]) => number} get */
  const f = (xs, get) => med(xs.map(get)).toFixed(0);
  return [
    'Reading it (medians, early vs late layers of the chain):',
    `- frozen time per pre-dump: ${f(early, (r) => r.stats.frozenTimeUs / 1000)} ms (${span(early)}) vs ${f(late, (r) => r.stats.frozenTimeUs / 1000)} ms (${span(late)});`,
    `- step wall time (ferry's checks + CRIU): ${f(early, (r) => r.wallMs)} ms vs ${f(late, (r) => r.wallMs)} ms;`,
    `- pages written per layer: ${f(early, (r) => r.stats.pagesWritten)} vs ${f(late, (r) => r.stats.pagesWritten)}. The workload dirties at a fixed rate, so a longer`,
    '  step leaves more to write in the next layer; stored bytes grow about linearly with the number of layers.',
    ...(med(late.map((r) => r.wallMs)) > 1.3 * med(early.map((r) => r.wallMs)) || med(late.map((r) => r.stats.frozenTimeUs)) > 1.3 * med(early.map((r) => r.stats.frozenTimeUs))
      ? [
          '- Late layers were slower. One run cannot separate the chain length (ferry\'s parent checks, CRIU walking the',
          '  parents) from the host\'s load (the lab shares the 2 host cores with other work): treat it as an upper bound.',
        ]
      : ['- Neither the frozen time nor the step time of a pre-dump grew with the chain length in this run (within its noise).']),
    `- final dump on top of the ${rows.length} layers: frozen ${ms(raw.final.stats.frozenTimeUs)} ms against ${ms(raw.full.stats.frozenTimeUs)} ms for the full dump of the same process,` +
      ` while writing ${((100 * raw.final.stats.pagesWritten) / Math.max(1, raw.full.stats.pagesWritten)).toFixed(0)}% of its pages` +
      (raw.final.stats.frozenTimeUs > raw.full.stats.frozenTimeUs
        ? ': on a long chain the final dump was frozen LONGER than a full dump, although it wrote far fewer pages. Compare the lab downtime table (final dump after 2 pre-dumps); the cost appears to grow with the number of parents CRIU consults (not profiled here).'
        : '.'),
    `- restore of the whole chain: ${raw.restore.wallMs} ms of wall time against CRIU's own restore counter of ${raw.restore.restoreTimeUs === null ? 'n/a' : `${ms(raw.restore.restoreTimeUs)} ms`}` +
      (raw.restore.chainCheckMs !== undefined
        ? `; ferry's chain check alone (assertRestorableChain, run once more on its own just before the restore) took ${raw.restore.chainCheckMs} ms.`
        : '; the difference (ferry\'s chain check before the restore plus CRIU work outside its restore counter) was not broken down in this run.'),
    '',
  ];
}

const lines = [
  '# Cost growth with chain length (soft-dirty lab)',
  '',
  'Generated by `bash bench/lab-chain.sh` (steps in `bench/lab-chain-guest.js`); raw numbers in `bench/results/chain-raw.json`;',
  'plot: `BENCHMARKS-chain.svg`.',
  '',
  '**TCG (software-emulated CPU) times, one run: absolute milliseconds do not carry over to hardware; the shape of the',
  'growth does.** Guest: qemu TCG, 1 vCPU, Debian kernel 6.1 (soft-dirty on), CRIU 4.1.1, THP "madvise".',
  `${bootMs ? `One boot, ${(bootMs / 60000).toFixed(1)} min of host wall time. ` : ''}Workload: ${raw.workload.mib} MiB, ${(raw.workload.dirtyPermille / 10).toFixed(1)}% of pages rewritten every ${raw.workload.intervalMs} ms.`,
  `A "nightly" layer every ${raw.gapMs} ms (plus the step's own time) instead of every 24 h; every step through ferry's`,
  'CRIU driver in one Node process; each pre-dump has the previous one as parent.',
  '',
  `Baseline full dump (leave-running): frozen ${ms(raw.full.stats.frozenTimeUs)} ms, ${(raw.full.bytes / MiB).toFixed(1)} MiB.`,
  `Final dump on top of ${rows.length} layers: frozen ${ms(raw.final.stats.frozenTimeUs)} ms, ${raw.final.stats.pagesWritten} pages written, ${raw.final.stats.pagesSkippedParent} in parents, ${(raw.final.bytes / MiB).toFixed(1)} MiB.`,
  `Restore from the ${rows.length + 1}-layer chain: ${raw.restore.wallMs} ms wall, CRIU restore ${raw.restore.restoreTimeUs === null ? 'n/a' : `${ms(raw.restore.restoreTimeUs)} ms`}; memory verified: ${raw.restore.verify.ok ? 'ok' : `**${raw.restore.verify.bad} bad pages**`}.`,
  `Stored in all (${rows.length} layers + final): ${totalMiB.toFixed(1)} MiB.`,
  '',
  ...reading(),
  '| layer | frozen ms | step wall ms | pages written | pages in parent | layer MiB | stored MiB (cumulative) |',
  '|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.n} | ${ms(r.stats.frozenTimeUs)} | ${r.wallMs} | ${r.stats.pagesWritten} | ${r.stats.pagesSkippedParent} | ${(r.bytes / MiB).toFixed(1)} | ${r.cumMiB.toFixed(1)} |`),
  '',
];
process.stdout.write(lines.join('\n'));
