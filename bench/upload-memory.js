#!/usr/bin/env node
// Worker memory while uploading one layer through LayerStore.putLayer (dist/storage, defaults:
// 16 MiB parts x 4 in flight) to the dev stack's MinIO, for several layer sizes. Each upload runs
// in its own child process, which resets its VmHWM after warming up (clear_refs 5) and samples
// process.memoryUsage() every 20 ms, so the table shows both the peak RSS and what it was made of
// (V8 heap vs Buffers outside the heap). The layer is one incompressible file (AES-CTR stream).
//
//   node bench/upload-memory.js [--sizes "256 1024 4096"] [--repeats 3]
//
// Writes bench/results/upload-memory.md and upload-memory-raw.json. Bench objects are deleted.
// @ts-check
'use strict';
const { createCipheriv, randomBytes } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const lib = require('./lib');

/** @typedef {import('./results').UploadMemoryRaw} UploadMemoryRaw */

/** @param {string} name @param {string} fallback */
function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
}

/** @param {string} file @param {number} mib */
async function writeRandomFile(file, mib) {
  const cipher = createCipheriv('aes-256-ctr', randomBytes(32), Buffer.alloc(16));
  const out = fs.createWriteStream(file);
  const zero = Buffer.alloc(lib.MiB);
  for (let i = 0; i < mib; i++) if (!out.write(cipher.update(zero))) await /** @type {Promise<void>} */ (new Promise((r) => out.once('drain', r)));
  await /** @type {Promise<void>} */ (new Promise((resolve, reject) => out.end((/** @type {Error | null | undefined} */ err) => (err ? reject(err) : resolve()))));
}

/** @param {string} dir @param {string} id @returns {Promise<import('./results').UploadMemoryRun>} */
async function child(dir, id) {
  const r = await lib.measuredUpload(dir, id);
  return {
    uploadMs: r.uploadMs,
    baselineMiB: r.baselineKiB / 1024,
    peakMiB: r.peakKiB / 1024,
    growthMiB: r.growthKiB / 1024,
    heapUsedGrowthMiB: r.heapUsedGrowthMiB,
    arrayBuffersGrowthMiB: r.arrayBuffersGrowthMiB,
    partSize: r.partSize,
    concurrency: r.concurrency,
  };
}

/** @param {UploadMemoryRaw} raw */
function render(raw) {
  const sizes = Object.keys(raw.sizes).map(Number).sort((a, b) => a - b);
  const r0 = raw.sizes[sizes[0]].runs[0];
  const pool = (r0.partSize * r0.concurrency) / lib.MiB;
  /** @param {number} mib @param {keyof import('./results').UploadMemoryRun} k */
  const col = (mib, k) => lib.spread(raw.sizes[mib].runs.map((r) => r[k]));
  return [
    '# Worker memory while uploading a layer (bench/upload-memory.js)',
    '',
    `One incompressible file per layer, \`LayerStore.putLayer\` (dist/storage, ${r0.partSize / lib.MiB} MiB parts x ${r0.concurrency} in flight) to the dev stack's MinIO on loopback;`,
    'each upload in its own child process; "growth" = VmHWM after the upload minus VmHWM just before it (reset with',
    '/proc/self/clear_refs after the SDK and connection are warm). Sampled every 20 ms: the largest growth of the V8 heap',
    `and of Buffers outside it (\`arrayBuffers\`). Load average at start: ${raw.machine.loadavg.join(' / ')}. Cells: median (min-max).`,
    '',
    '| layer MiB | runs | upload ms | baseline RSS MiB | peak RSS MiB | RSS growth MiB | Buffers growth MiB (sampled) | V8 heap growth MiB (sampled) |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...sizes.map((mib) => `| ${mib} | ${raw.sizes[mib].runs.length} | ${col(mib, 'uploadMs')} | ${col(mib, 'baselineMiB')} | ${col(mib, 'peakMiB')} | ${col(mib, 'growthMiB')} | ${col(mib, 'arrayBuffersGrowthMiB')} | ${col(mib, 'heapUsedGrowthMiB')} |`),
    '',
    `Part-buffer pool: ${pool} MiB (allocated once, reused): the "Buffers growth" column. The V8 heap adds a few MiB; the`,
    'rest of the RSS growth is native memory of the process (HTTP client, allocator). None of the three grows in proportion',
    'to the layer size.',
    '',
  ].join('\n');
}

async function main() {
  if (process.argv[2] === '--render') {
    /** @type {UploadMemoryRaw} */
    const raw = JSON.parse(fs.readFileSync(path.join(__dirname, 'results', 'upload-memory-raw.json'), 'utf8'));
    lib.writeResult('upload-memory', render(raw));
    return;
  }
  if (process.argv[2] === '--child') {
    process.stdout.write(`\n${JSON.stringify(await child(process.argv[3], process.argv[4]))}\n`);
    return;
  }
  const sizes = arg('--sizes', '256 1024 4096').split(/[ ,]+/).filter(Boolean).map(Number);
  const repeats = Number(arg('--repeats', '3'));
  /** @type {UploadMemoryRaw} */
  const raw = { machine: lib.machine(), sizes: {} };
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-upmem-'));
  const prefix = `bench-upmem-${process.pid}-${Date.now()}`;
  const env = { ...process.env, FERRY_S3_PREFIX: prefix };
  const { loadConfig } = lib.requireDist('config/config');
  const storage = lib.requireDist('storage');
  const config = loadConfig({ FERRY_S3_PREFIX: prefix });
  const s3 = storage.createS3Client(config);
  try {
    for (const mib of sizes) {
      const dir = path.join(work, `layer-${mib}`);
      fs.mkdirSync(dir);
      await writeRandomFile(path.join(dir, 'pages-1.img'), mib);
      raw.sizes[mib] = { runs: [] };
      for (let i = 0; i < repeats; i++) {
        const r = await lib.timed(process.execPath, [__filename, '--child', dir, `upmem-${mib}-${i}`], { env });
        raw.sizes[mib].runs.push(r.json);
        lib.log(`upload-memory ${mib} MiB run ${i + 1}/${repeats}: ${r.json.uploadMs.toFixed(0)} ms, peak ${r.json.peakMiB.toFixed(0)} MiB (+${r.json.growthMiB.toFixed(0)}; buffers +${r.json.arrayBuffersGrowthMiB.toFixed(0)}, heap +${r.json.heapUsedGrowthMiB.toFixed(0)})`);
        await lib.deletePrefix(s3, config.s3.bucket, prefix);
      }
      fs.rmSync(dir, { recursive: true, force: true });
      lib.writeResult('upload-memory', render(raw), raw);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    await lib.deletePrefix(s3, config.s3.bucket, prefix).catch((err) => lib.log(`cleanup of ${prefix}/ failed: ${err.message}`));
  }
  process.stdout.write(render(raw));
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
