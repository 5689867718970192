#!/usr/bin/env node
// Draws the cost-growth table (bench/results/growth-raw.json) as an SVG: one panel per measure
// against workload size (log2 x axis), medians as points joined by lines, min-max as whiskers.
//   node bench/plot-growth.js [out.svg]   (default: BENCHMARKS-growth.svg next to BENCHMARKS.md)
// No dependencies: the SVG is written by hand.
// @ts-check
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { median } = require('./lib');

const root = path.resolve(__dirname, '..');
/** @type {import('./results').GrowthRaw} */
const raw = JSON.parse(fs.readFileSync(path.join(__dirname, 'results', 'growth-raw.json'), 'utf8'));
const out = process.argv[2] || path.join(root, 'BENCHMARKS-growth.svg');

const sizes = Object.keys(raw.sizes).map(Number).sort((a, b) => a - b);
/** @type {Array<{ title: string, get: (r: import('./results').GrowthRun) => number, yMinZero?: boolean }>} */
const panels = [
  { title: 'CRIU frozen time (ms)', get: (r) => r.frozenMs },
  { title: 'dump wall time (ms)', get: (r) => r.dumpMs },
  { title: 'upload time (ms)', get: (r) => r.uploadMs },
  { title: 'stored bytes (MiB)', get: (r) => r.bytes / 1048576 },
  { title: 'uploader peak RSS (MiB)', get: (r) => r.uploadPeakMiB, yMinZero: true },
  { title: 'dump process peak RSS (MiB)', get: (r) => r.dumpPeakMiB, yMinZero: true },
];

const W = 330;
const H = 230;
const M = { l: 62, r: 14, t: 30, b: 40 };
const cols = 3;
const totalW = W * cols;
const totalH = H * Math.ceil(panels.length / cols) + 40;
/** @param {unknown} s */
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
/** @param {number} v */
const fmt = (v) => (v >= 10000 ? `${(v / 1000).toFixed(0)}k` : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(0) : v.toFixed(1));

/** @param {number} v */
function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v || 1));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const parts = [];
parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${totalW}" height="${totalH}" viewBox="0 0 ${totalW} ${totalH}" font-family="sans-serif" font-size="11">`);
parts.push(`<rect width="100%" height="100%" fill="white"/>`);
parts.push(`<text x="${totalW / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">ferry cost growth with process size (full dumps, this host; median and min-max of ${esc(sizes.map((s) => raw.sizes[s].runs.length).join('/'))} runs)</text>`);
panels.forEach((p, idx) => {
  const ox = (idx % cols) * W;
  const oy = 30 + Math.floor(idx / cols) * H;
  const pw = W - M.l - M.r;
  const ph = H - M.t - M.b;
  const series = sizes.map((s) => {
    const v = raw.sizes[s].runs.map(p.get);
    return { s, med: median(v), lo: Math.min(...v), hi: Math.max(...v) };
  });
  const yMax = niceMax(Math.max(...series.map((d) => d.hi)) * 1.05);
  const lx = sizes.map((s) => Math.log2(s));
  const xMin = Math.min(...lx) - 0.5;
  const xMax = Math.max(...lx) + 0.5;
  const X = (/** @type {number} */ s) => ox + M.l + ((Math.log2(s) - xMin) / (xMax - xMin)) * pw;
  const Y = (/** @type {number} */ v) => oy + M.t + ph - (v / yMax) * ph;
  parts.push(`<text x="${ox + M.l + pw / 2}" y="${oy + M.t - 10}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
  parts.push(`<rect x="${ox + M.l}" y="${oy + M.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  for (let k = 0; k <= 4; k++) {
    const v = (yMax * k) / 4;
    parts.push(`<line x1="${ox + M.l}" x2="${ox + M.l + pw}" y1="${Y(v)}" y2="${Y(v)}" stroke="#eee"/>`);
    parts.push(`<text x="${ox + M.l - 4}" y="${Y(v) + 4}" text-anchor="end">${fmt(v)}</text>`);
  }
  for (const s of sizes) parts.push(`<text x="${X(s)}" y="${oy + M.t + ph + 16}" text-anchor="middle">${s >= 1024 ? `${s / 1024} GiB` : `${s} MiB`}</text>`);
  parts.push(`<text x="${ox + M.l + pw / 2}" y="${oy + M.t + ph + 32}" text-anchor="middle" fill="#555">workload size (log scale)</text>`);
  parts.push(`<polyline fill="none" stroke="#1f6fb4" stroke-width="2" points="${series.map((d) => `${X(d.s).toFixed(1)},${Y(d.med).toFixed(1)}`).join(' ')}"/>`);
  for (const d of series) {
    parts.push(`<line x1="${X(d.s)}" x2="${X(d.s)}" y1="${Y(d.lo)}" y2="${Y(d.hi)}" stroke="#1f6fb4"/>`);
    parts.push(`<circle cx="${X(d.s)}" cy="${Y(d.med)}" r="3.5" fill="#1f6fb4"/>`);
    parts.push(`<text x="${X(d.s) + 6}" y="${Y(d.med) - 6}" fill="#333">${fmt(d.med)}</text>`);
  }
});
parts.push('</svg>');
fs.writeFileSync(out, `${parts.join('\n')}\n`);
process.stdout.write(`${out}\n`);
