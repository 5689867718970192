#!/usr/bin/env node
// Cost growth with process size, on this host (full dumps: this kernel has no soft-dirty tracking).
// For each size: one workload (test/fixtures/workload: N MiB, 1% of pages rewritten every 200 ms);
// per repetition a full `dump --leave-running` through ferry's CRIU driver (dist/criu), then the
// layer uploaded through LayerStore.putLayer (dist/storage, default 16 MiB parts x 4 in flight) to
// the dev stack's MinIO under a throw-away bench prefix. Dump and upload each run in their own
// child process under /usr/bin/time, so each has its own peak RSS; the upload child also reports
// its VmHWM just before putLayer (baseline) and after it (peak).
//
//   node bench/growth.js [--sizes "256 1024 4096"] [--repeats 3]
//
// Results are merged by size into bench/results/growth-raw.json (so sizes can run in separate,
// bounded invocations) and rendered to bench/results/growth.md. Needs root, `npm run build` and
// the dev stack (`node bin/ferry.js dev up`).
// @ts-check
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const lib = require('./lib');

/** @typedef {import('./results').GrowthRaw} GrowthRaw */

const RAW = path.join(__dirname, 'results', 'growth-raw.json');

/** @param {string} name @param {string} fallback */
function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
}

// ---- child steps --------------------------------------------------------------------------

/** @param {number} pid @param {string} imagesDir */
async function childDump(pid, imagesDir) {
  const criu = lib.requireDist('criu');
  const t0 = process.hrtime.bigint();
  const r = await criu.dump({ pid, imagesDir, leaveRunning: true });
  const dumpMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return { dumpMs, frozenMs: r.stats.frozenTimeUs / 1000, memdumpMs: r.stats.memdumpTimeUs / 1000, pagesWritten: r.stats.pagesWritten, bytes: lib.dirBytes(imagesDir), nodePeakKiB: lib.vmHwmKiB() };
}

/** @param {string} dir @param {string} checkpointId */
async function childUpload(dir, checkpointId) {
  return lib.measuredUpload(dir, checkpointId);
}

// ---- parent -------------------------------------------------------------------------------

/**
 * The smallest size >= 2 GiB whose frozen time per GiB is over twice that of the sizes below it, or null.
 * @param {GrowthRaw} raw
 */
function jump(raw) {
  const sizes = Object.keys(raw.sizes).map(Number).sort((a, b) => a - b);
  const perGiB = (/** @type {number} */ mib) => lib.median(raw.sizes[mib].runs.map((r) => r.frozenMs)) / (mib / 1024);
  for (const mib of sizes) {
    const below = sizes.filter((s) => s < mib);
    if (mib >= 2048 && below.length && perGiB(mib) > 2 * Math.max(...below.map(perGiB))) return mib;
  }
  return null;
}

/** @param {GrowthRaw} raw */
function render(raw) {
  const sizes = Object.keys(raw.sizes).map(Number).sort((a, b) => a - b);
  const rows = sizes.map((mib) => {
    const e = raw.sizes[mib];
    /** @param {'frozenMs' | 'dumpMs' | 'bytes' | 'uploadMs' | 'uploadMiBps' | 'dumpPeakMiB' | 'uploadPeakMiB' | 'uploadGrowthMiB'} k */
    const col = (k, d = 0, scale = 1) => lib.spread(e.runs.map((r) => r[k] / scale), d);
    return `| ${mib} | ${e.runs.length} | ${col('frozenMs')} | ${col('dumpMs')} | ${col('bytes', 0, lib.MiB)} | ${col('uploadMs')} | ${col('uploadMiBps')} | ${col('dumpPeakMiB')} | ${col('uploadPeakMiB')} | ${col('uploadGrowthMiB')} | ${e.machine.loadavg[0]} |`;
  });
  const memRows = sizes.map((mib) => {
    const e = raw.sizes[mib];
    const r0 = e.runs[0];
    const bound = (r0.concurrency * r0.partSize) / lib.MiB;
    const base = lib.median(e.runs.map((r) => r.uploadBaselineMiB));
    const peak = Math.max(...e.runs.map((r) => r.uploadPeakMiB));
    const worst = e.runs.reduce((a, r) => (r.uploadGrowthMiB > a.uploadGrowthMiB ? r : a));
    const growth = worst.uploadGrowthMiB;
    // Buffers and heap were sampled together: a run has both or neither.
    const split = worst.uploadBuffersGrowthMiB === undefined ? 'not sampled' : `+${worst.uploadBuffersGrowthMiB.toFixed(0)} / +${/** @type {number} */ (worst.uploadHeapGrowthMiB).toFixed(0)}`;
    return { mib, bound, base, peak, growth, split, held: growth <= bound + raw.sdkAllowanceMiB };
  });
  const memTable = memRows.map((m) => `| ${m.mib} | ${m.base.toFixed(0)} | ${m.peak.toFixed(0)} | ${m.growth.toFixed(0)} | ${m.split} | ${m.bound.toFixed(0)} + ${raw.sdkAllowanceMiB} | ${m.held ? 'yes' : '**no**'} |`);
  const histOver = (raw.history || []).flatMap((h) => h.runs.filter((r) => r.uploadGrowthMiB > (r.concurrency * r.partSize) / lib.MiB + raw.sdkAllowanceMiB).map((r) => `${h.mib} MiB: +${r.uploadGrowthMiB.toFixed(0)} MiB (earlier run, ${h.machine.date.slice(11, 16)} UTC)`));
  const allHeld = memRows.length > 0 && memRows.every((m) => m.held) && histOver.length === 0;
  return [
    '# Cost growth with process size (bench/growth.js)',
    '',
    'Host: full dumps only (this kernel has no soft-dirty tracking, so no pre-dumps; see the lab for those).',
    'Per size: one workload (test/fixtures/workload, N MiB of anonymous memory, 1% of pages rewritten every 200 ms);',
    'per run: `dump --leave-running` through ferry\'s CRIU driver (dist/criu, one `criu swrk` per call) into a fresh',
    'images dir, `sync`, then `LayerStore.putLayer` of that dir (dist/storage; SHA-256 + per-part CRC32 in one read,',
    'then parts in flight) to the dev stack\'s MinIO on loopback under a throw-away prefix, deleted afterwards.',
    'Dump and upload each run in their own child process under `/usr/bin/time`; "peak RSS" is its maximum resident set',
    '(for the dump, the larger of the Node process and the `criu swrk` it started). Cells: median (min-max).',
    '',
    '| workload MiB | runs | CRIU frozen ms | dump wall ms | stored MiB | upload ms | upload MiB/s | dump peak RSS MiB | upload peak RSS MiB | upload RSS growth MiB | load avg (1 min) at start |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    `Frozen time per GiB of image (median): ${sizes.map((mib) => `${mib} MiB: ${(lib.median(raw.sizes[mib].runs.map((r) => r.frozenMs)) / (mib / 1024)).toFixed(0)} ms/GiB`).join('; ')}.`,
    `Upload time per GiB (median): ${sizes.map((mib) => `${mib} MiB: ${(lib.median(raw.sizes[mib].runs.map((r) => r.uploadMs)) / (mib / 1024)).toFixed(0)} ms/GiB`).join('; ')}.`,
    `Page-cache write-back limits on this machine: vm.dirty_ratio ${raw.dirtyRatio ?? 'n/a'}%, vm.dirty_background_ratio ${raw.dirtyBackgroundRatio ?? 'n/a'}% of available memory`,
    ...(jump(raw)
      ? [
          `(about 3-4 GiB of dirty pages here). A full dump larger than that limit is the likely reason the frozen time per GiB`,
          `jumps at ${jump(raw)} MiB: past the limit, CRIU's writes are throttled to the disk's speed while the process is frozen (not`,
          'verified separately in this run). Images on faster storage, or pre-dumps (soft-dirty kernels), avoid it.',
        ]
      : ['(about 3-4 GiB of dirty pages here).']),
    '',
    '## Worker memory while uploading',
    '',
    `Bound: the uploader holds at most \`concurrency x partSize\` = ${memRows[0] ? `${memRows[0].bound} MiB` : 'n/a'} of part buffers (src/storage/upload.ts BufferPool),`,
    `plus the SDK's per-request buffers and sockets (allowance ${raw.sdkAllowanceMiB} MiB), on top of the process's baseline (Node + SDK loaded, connection warm).`,
    '"growth" is VmHWM after putLayer minus VmHWM just before it (reset with /proc/self/clear_refs), worst run;',
    'where sampled (every 20 ms), the largest growth of Buffers outside the V8 heap and of the V8 heap in that run.',
    '',
    '| layer MiB | baseline RSS MiB (median) | peak RSS MiB (worst) | growth MiB (worst) | that run: Buffers / V8 heap growth MiB | bound MiB | within bound |',
    '|---:|---:|---:|---:|---|---:|---|',
    ...memTable,
    '',
    allHeld
      ? 'The growth stays within the bound at every size: worker memory does not grow with the layer size.'
      : `The bound did NOT hold in every run: ${[...memRows.filter((m) => !m.held).map((m) => `${m.mib} MiB: +${m.growth.toFixed(0)} MiB`), ...histOver].join('; ')}.`,
    '',
    ...(raw.history && raw.history.length
      ? [
          '## Earlier runs in this session (replaced above by a later run of the same size)',
          '',
          '| workload MiB | runs | load at start | CRIU frozen ms | dump wall ms | upload ms | upload RSS growth MiB |',
          '|---:|---:|---:|---:|---:|---:|---:|',
          ...raw.history.map((h) => `| ${h.mib} | ${h.runs.length} | ${h.machine.loadavg[0]} (${h.machine.date.slice(11, 16)} UTC) | ${lib.spread(h.runs.map((r) => r.frozenMs))} | ${lib.spread(h.runs.map((r) => r.dumpMs))} | ${lib.spread(h.runs.map((r) => r.uploadMs))} | ${lib.spread(h.runs.map((r) => r.uploadGrowthMiB))} |`),
          '',
        ]
      : []),
  ].join('\n');
}

/** @param {number} mib @param {number} repeats @returns {Promise<import('./results').GrowthSize>} */
async function runSize(mib, repeats) {
  const machine = lib.machine();
  lib.log(`growth ${mib} MiB: starting workload (load ${machine.loadavg.join(' ')})`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-growth-'));
  const prefix = `bench-growth-${process.pid}-${Date.now()}`;
  const env = { ...process.env, FERRY_S3_PREFIX: prefix };
  const wl = await lib.Workload.start(mib);
  /** @type {import('./results').GrowthRun[]} */
  const runs = [];
  try {
    await lib.sleep(500);
    for (let i = 0; i < repeats; i++) {
      const images = path.join(work, `images-${i}`);
      spawnSync('sync');
      const d = await lib.timed(process.execPath, [__filename, '--child-dump', String(wl.pid), images], { env });
      spawnSync('sync');
      const u = await lib.timed(process.execPath, [__filename, '--child-upload', images, `growth-${mib}-${i}`], { env });
      const run = {
        ...d.json,
        dumpPeakMiB: d.peakKiB / 1024,
        uploadMs: u.json.uploadMs,
        uploadMiBps: d.json.bytes / lib.MiB / (u.json.uploadMs / 1000),
        uploadPeakMiB: u.peakKiB / 1024,
        uploadBaselineMiB: u.json.baselineKiB / 1024,
        uploadGrowthMiB: u.json.growthKiB / 1024,
        uploadHeapGrowthMiB: u.json.heapUsedGrowthMiB,
        uploadBuffersGrowthMiB: u.json.arrayBuffersGrowthMiB,
        bytesSent: u.json.bytesSent,
        partSize: u.json.partSize,
        concurrency: u.json.concurrency,
        encrypted: u.json.encrypted,
      };
      runs.push(run);
      lib.log(`growth ${mib} MiB run ${i + 1}/${repeats}: frozen ${run.frozenMs.toFixed(0)} ms, dump ${run.dumpMs.toFixed(0)} ms, ${(run.bytes / lib.MiB).toFixed(0)} MiB, upload ${run.uploadMs.toFixed(0)} ms, upload peak ${run.uploadPeakMiB.toFixed(0)} MiB (+${run.uploadGrowthMiB.toFixed(0)})`);
      fs.rmSync(images, { recursive: true, force: true });
      const { loadConfig } = lib.requireDist('config/config');
      const storage = lib.requireDist('storage');
      const config = loadConfig(env);
      await lib.deletePrefix(storage.createS3Client(config), config.s3.bucket, prefix);
    }
    await wl.verify();
  } finally {
    await wl.stop();
    fs.rmSync(work, { recursive: true, force: true });
    try {
      const { loadConfig } = lib.requireDist('config/config');
      const storage = lib.requireDist('storage');
      const config = loadConfig(env);
      await lib.deletePrefix(storage.createS3Client(config), config.s3.bucket, prefix);
    } catch (err) {
      lib.log(`cleanup of s3 prefix ${prefix} failed: ${/** @type {Error} */ (err).message}`);
    }
  }
  return { machine, runs };
}

async function main() {
  if (process.argv[2] === '--child-dump') {
    process.stdout.write(`\n${JSON.stringify(await childDump(Number(process.argv[3]), process.argv[4]))}\n`);
    return;
  }
  if (process.argv[2] === '--child-upload') {
    process.stdout.write(`\n${JSON.stringify(await childUpload(process.argv[3], process.argv[4]))}\n`);
    return;
  }
  const sizes = arg('--sizes', '256 1024 4096').split(/[ ,]+/).filter(Boolean).map(Number);
  const repeats = Number(arg('--repeats', '3'));
  /** @type {GrowthRaw} */
  const raw = fs.existsSync(RAW) && !process.argv.includes('--fresh') ? JSON.parse(fs.readFileSync(RAW, 'utf8')) : { sizes: {} };
  raw.sdkAllowanceMiB = 32;
  raw.dirtyRatio = Number(fs.readFileSync('/proc/sys/vm/dirty_ratio', 'utf8'));
  raw.dirtyBackgroundRatio = Number(fs.readFileSync('/proc/sys/vm/dirty_background_ratio', 'utf8'));
  if (process.argv.includes('--render')) {
    lib.writeResult('growth', render(raw), raw);
    return;
  }
  for (const mib of sizes) {
    // Earlier runs of a size stay on record (BENCHMARKS.md must not lose a measured outlier).
    if (raw.sizes[mib]) (raw.history ??= []).push({ mib, ...raw.sizes[mib] });
    raw.sizes[mib] = await runSize(mib, repeats);
    lib.writeResult('growth', render(raw), raw);
  }
  process.stdout.write(render(raw));
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
