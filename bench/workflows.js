#!/usr/bin/env node
// ferry's Temporal workflows against plain scripts, side by side in one run, on this host.
//
//   node bench/workflows.js pipeline [--mib 1024] [--repeats 3]
//     `ferry checkpoint --pid P --host bench-a --leave-running --wait --json` (a `ferry worker`
//     running, dev stack Temporal + MinIO) against a plain script doing the same CRIU call (a full
//     `dump --leave-running` through ferry's driver, dist/criu) plus a plain upload (one PutObject
//     per image file, AWS SDK v3, streamed body). Both are timed as a user runs them: a fresh
//     `node` process each, from spawn to exit. Same workload process for every run, the two
//     variants interleaved with alternating order.
//
//   node bench/workflows.js migrate [--mib 1024] [--repeats 3]
//     `ferry migrate --pid P --from bench-a --to bench-b --no-warm --wait --json` between two
//     workers on this machine (two host names, separate staging dirs), back and forth on the same
//     process: each round once with the final layer sent straight to the target (the default) and
//     once through the store (--no-direct), in alternating order. Downtime as ferry reports it
//     (final dump start to running on the target) against the sum of CRIU's own times for the
//     same migration: frozen time (stats-dump) + restore time (stats-restore).
//
// Workers run with their own task-queue prefix, S3 prefix and staging dir, so other users of the
// dev stack are not disturbed; all are removed at the end. Writes bench/results/<mode>.md and
// <mode>-raw.json. Needs root, `npm run build` and the dev stack (`node bin/ferry.js dev up`).
// @ts-check
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const lib = require('./lib');

/** @typedef {import('./results').PipelineRaw} PipelineRaw */
/** @typedef {import('./results').MigrateRaw} MigrateRaw */
/** @typedef {import('./results').MigrateRun} MigrateRun */
/** @typedef {NodeJS.ProcessEnv & { FERRY_S3_PREFIX: string }} StackEnv */

const FERRY = path.join(lib.root, 'bin', 'ferry.js');

/** @param {string} name @param {string} fallback */
function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
}

// ---- the plain script (child) ---------------------------------------------------------------

/** @param {number} pid @param {string} imagesDir @param {string} prefix */
async function childPlain(pid, imagesDir, prefix) {
  const t0 = process.hrtime.bigint();
  const criu = lib.requireDist('criu');
  const { S3Client, PutObjectCommand } = require('@aws-sdk/client-s3');
  const tLoaded = process.hrtime.bigint();
  const r = await criu.dump({ pid, imagesDir, leaveRunning: true });
  const tDumped = process.hrtime.bigint();
  // Credentials from the dev stack's shared credentials file (AWS_PROFILE etc. in the env).
  const client = new S3Client({ endpoint: process.env.AWS_ENDPOINT_URL_S3, forcePathStyle: true, region: process.env.AWS_REGION });
  for (const name of fs.readdirSync(imagesDir)) {
    const file = path.join(imagesDir, name);
    const st = fs.statSync(file);
    if (!st.isFile()) continue;
    await client.send(new PutObjectCommand({ Bucket: process.env.FERRY_S3_BUCKET || 'ferry', Key: `${prefix}/plain/${path.basename(imagesDir)}/${name}`, Body: fs.createReadStream(file), ContentLength: st.size }));
  }
  const tUploaded = process.hrtime.bigint();
  const ms = (/** @type {bigint} */ a, /** @type {bigint} */ b) => Number(b - a) / 1e6;
  return { loadMs: ms(t0, tLoaded), dumpMs: ms(tLoaded, tDumped), uploadMs: ms(tDumped, tUploaded), innerMs: ms(t0, tUploaded), frozenMs: r.stats.frozenTimeUs / 1000, bytes: lib.dirBytes(imagesDir) };
}

// ---- workers --------------------------------------------------------------------------------

function devEnv() {
  const out = spawnSync(process.execPath, [FERRY, 'dev', 'env'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`ferry dev env failed: ${out.stderr}`);
  /** @type {Record<string, string>} */
  const env = {};
  for (const m of out.stdout.matchAll(/^export ([A-Z0-9_]+)=(.*)$/gm)) env[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
  return env;
}

/** @param {string} host @param {NodeJS.ProcessEnv} env */
async function startWorker(host, env) {
  const child = spawn(process.execPath, [FERRY, 'worker', '--host', host], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (b) => (text = (text + b).slice(-20000)));
  child.stderr.on('data', (b) => (text = (text + b).slice(-20000)));
  /** @type {string | null} */
  let exited = null;
  child.once('exit', (code, sig) => (exited = `${code ?? sig}`));
  await lib.poll(`ferry worker --host ${host} to be ready`, 120000, () => {
    if (exited !== null) throw new Error(`ferry worker --host ${host} exited (${exited}): ${text}`);
    return /ready/.test(text);
  });
  return {
    host,
    log: () => text,
    async stop() {
      if (exited !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20000);
      await gone;
      clearTimeout(t);
    },
  };
}

/**
 * @template T
 * @param {string} label
 * @param {string[]} hosts
 * @param {(env: StackEnv) => Promise<T>} fn
 * @returns {Promise<T>}
 */
async function withStack(label, hosts, fn) {
  const stamp = `${process.pid}-${Date.now()}`;
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-staging-'));
  /** @type {StackEnv} */
  const env = { ...process.env, ...devEnv(), FERRY_TASK_QUEUE_PREFIX: `bench${stamp.replace(/-/g, '')}`, FERRY_S3_PREFIX: `bench-${label}-${stamp}`, FERRY_STAGING_DIR: staging };
  const workers = [];
  try {
    for (const h of hosts) workers.push(await startWorker(h, env));
    return await fn(env);
  } finally {
    for (const w of workers) await w.stop();
    fs.rmSync(staging, { recursive: true, force: true });
    try {
      const { loadConfig } = lib.requireDist('config/config');
      const storage = lib.requireDist('storage');
      // The dev stack's own credentials (loadConfig reads them when nothing else is configured).
      const config = loadConfig({ FERRY_S3_PREFIX: env.FERRY_S3_PREFIX });
      const n = await lib.deletePrefix(storage.createS3Client(config), config.s3.bucket, env.FERRY_S3_PREFIX);
      lib.log(`removed ${n} bench objects under ${env.FERRY_S3_PREFIX}/`);
    } catch (err) {
      lib.log(`cleanup of ${env.FERRY_S3_PREFIX}/ failed: ${/** @type {Error} */ (err).message}`);
    }
  }
}

/** @param {string} stdout @returns {any} ferry's --json document */
function parseJson(stdout) {
  const start = stdout.indexOf('{');
  return JSON.parse(stdout.slice(start));
}

/**
 * Summaries of the earlier runs kept in results/<name>-raw.json, so a rerun never hides a measured result.
 * @template {PipelineRaw | MigrateRaw} R
 * @param {string} name
 * @param {(old: R) => number} ratioOf
 * @returns {import('./results').HistoryEntry[]}
 */
function previousRuns(name, ratioOf) {
  const file = path.join(__dirname, 'results', `${name}-raw.json`);
  if (!fs.existsSync(file)) return [];
  /** @type {R} */
  const old = JSON.parse(fs.readFileSync(file, 'utf8'));
  const runs = Array.isArray(old.runs) ? old.runs.length : old.runs.ferry.length;
  return [...(old.history || []), { at: old.machine.date.slice(11, 16), load: old.machine.loadavg[0], runs, ratio: ratioOf(old) }];
}

/** @param {{ history?: import('./results').HistoryEntry[] }} raw */
function historyLines(raw) {
  if (!raw.history || !raw.history.length) return [];
  return ['', `Earlier runs of this bench (same size, replaced by the one above): ${raw.history.map((h) => `${h.ratio.toFixed(2)}x (${h.runs} runs, ${h.at} UTC, load ${h.load})`).join('; ')}.`];
}

// ---- pipeline overhead -------------------------------------------------------------------

/** @param {number} mib @param {number} repeats */
async function pipeline(mib, repeats) {
  const machine = lib.machine();
  lib.log(`pipeline ${mib} MiB, ${repeats} runs each (load ${machine.loadavg.join(' ')})`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-plain-'));
  /** @type {PipelineRaw['runs']} */
  const runs = { ferry: [], plain: [] };
  try {
    await withStack('pipeline', ['bench-a'], async (env) => {
      const wl = await lib.Workload.start(mib);
      try {
        await lib.sleep(500);
        for (let i = 0; i < repeats; i++) {
          for (const v of /** @type {Array<'ferry' | 'plain'>} */ (i % 2 ? ['plain', 'ferry'] : ['ferry', 'plain'])) {
            spawnSync('sync');
            if (v === 'ferry') {
              const r = await lib.timed(process.execPath, [FERRY, 'checkpoint', '--pid', String(wl.pid), '--host', 'bench-a', '--leave-running', '--checkpoint-id', `bench-pipe-${i}`, '--wait', '--json'], { env });
              const res = parseJson(r.stdout);
              const layer = res.layers[res.layers.length - 1];
              runs.ferry.push({ wallMs: r.wallMs, workflowMs: res.durationMs, frozenMs: res.finalDump.frozenMs, dumpMs: res.finalDump.durationMs, uploadMs: res.finalDump.uploadMs, commitMs: res.commitMs, bytes: layer.bytes, stopReason: res.preDumps.stopReason, cliPeakMiB: r.peakKiB / 1024 });
            } else {
              const images = path.join(work, `images-${i}`);
              const r = await lib.timed(process.execPath, [__filename, '--child-plain', String(wl.pid), images, env.FERRY_S3_PREFIX], { env });
              runs.plain.push({ wallMs: r.wallMs, ...r.json, peakMiB: r.peakKiB / 1024 });
              fs.rmSync(images, { recursive: true, force: true });
            }
            const last = runs[v][runs[v].length - 1];
            lib.log(`pipeline run ${i + 1}/${repeats} ${v}: wall ${last.wallMs.toFixed(0)} ms, frozen ${last.frozenMs.toFixed(0)} ms, upload ${last.uploadMs.toFixed(0)} ms`);
          }
        }
        await wl.verify();
      } finally {
        await wl.stop();
      }
    });
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  /** @type {PipelineRaw} */
  const raw = { machine, mib, repeats, runs, finishedAt: new Date().toISOString() };
  // The 1 GiB run is the issue's; other sizes go beside it (they show which costs are fixed).
  const name = mib === 1024 ? 'pipeline' : `pipeline-${mib}`;
  raw.history = previousRuns(name, (/** @type {PipelineRaw} */ old) => lib.median(old.runs.ferry.map((r) => r.wallMs)) / lib.median(old.runs.plain.map((r) => r.wallMs)));
  lib.writeResult(name, renderPipeline(raw), raw);
  return raw;
}

/** @param {PipelineRaw} raw */
function renderPipeline(raw) {
  const { runs } = raw;
  // Columns are read by name: a variant without one (the plain script has no workflowMs) shows n/a.
  /** @type {Record<'ferry' | 'plain', Array<Record<string, unknown>>>} */
  const byName = runs;
  const col = (/** @type {'ferry' | 'plain'} */ v, /** @type {string} */ k) =>
    byName[v].length && byName[v][0][k] !== undefined ? lib.spread(byName[v].map((r) => /** @type {number} */ (r[k]))) : 'n/a';
  const ratios = runs.ferry.map((f, i) => (runs.plain[i] ? f.wallMs / runs.plain[i].wallMs : NaN)).filter((x) => !Number.isNaN(x));
  const ratio = runs.ferry.length && runs.plain.length ? lib.median(runs.ferry.map((r) => r.wallMs)) / lib.median(runs.plain.map((r) => r.wallMs)) : NaN;
  const fixed = lib.median(runs.ferry.map((r) => r.wallMs)) - lib.median(runs.plain.map((r) => r.wallMs));
  return [
    '# Pipeline overhead: `ferry checkpoint` vs a plain script (bench/workflows.js pipeline)',
    '',
    `${raw.mib} MiB workload (test/fixtures/workload, 1% of pages rewritten every 200 ms), one process for all runs;`,
    `${raw.repeats} runs per variant, interleaved (order alternating per round). Load average at start: ${raw.machine.loadavg.join(' / ')} (1/5/15 min) on ${raw.machine.nproc} cores.`,
    '- ferry: `node bin/ferry.js checkpoint --pid P --host bench-a --leave-running --wait --json`, one `ferry worker --host bench-a`',
    '  already running (dev stack Temporal + MinIO). No soft-dirty tracking here, so the workflow takes one full dump',
    '  (stopReason `kernel-cannot-track`), then uploads it through the layer store and commits the manifest.',
    '- plain: `node bench/workflows.js --child-plain`: the same CRIU call (full `dump --leave-running` through ferry\'s',
    '  driver) then one PutObject per image file (AWS SDK v3, streamed body, no checksums), to the same MinIO.',
    'Wall = spawn to exit of the command, as a user waits for it. Cells: median (min-max).',
    '',
    '| variant | wall ms | inside ms (workflow durationMs / script) | CRIU frozen ms | dump ms | upload ms | stored MiB |',
    '|---|---:|---:|---:|---:|---:|---:|',
    `| ferry checkpoint | ${col('ferry', 'wallMs')} | ${col('ferry', 'workflowMs')} | ${col('ferry', 'frozenMs')} | ${col('ferry', 'dumpMs')} | ${col('ferry', 'uploadMs')} | ${(lib.median(runs.ferry.map((r) => r.bytes)) / lib.MiB).toFixed(0)} |`,
    `| plain script | ${col('plain', 'wallMs')} | ${col('plain', 'innerMs')} | ${col('plain', 'frozenMs')} | ${col('plain', 'dumpMs')} | ${col('plain', 'uploadMs')} | ${(lib.median(runs.plain.map((r) => r.bytes)) / lib.MiB).toFixed(0)} |`,
    '',
    `Ratio of medians (ferry / plain, wall): **${ratio.toFixed(2)}x** (per-round ratios: ${ratios.map((x) => x.toFixed(2)).join(', ')}); ferry takes ${fixed.toFixed(0)} ms more.`,
    `Target: within 1.15x — **${ratio <= 1.15 ? 'met' : 'missed'}**.`,
    ...historyLines(raw),
    '',
  ].join('\n');
}

// ---- migration downtime -----------------------------------------------------------------

/** @param {number} mib @param {number} repeats */
async function migrate(mib, repeats) {
  const machine = lib.machine();
  lib.log(`migrate ${mib} MiB, ${repeats} runs (load ${machine.loadavg.join(' ')})`);
  /** @type {MigrateRun[]} */
  const runs = [];
  await withStack('migrate', ['bench-a', 'bench-b'], async (env) => {
    const wl = await lib.Workload.start(mib);
    let pid = wl.pid;
    try {
      await lib.sleep(500);
      for (let i = 0; i < repeats; i++) {
        // Both paths each round, in alternating order, so drift in load or page cache hits both.
        for (const direct of i % 2 ? [false, true] : [true, false]) {
          const [from, to] = runs.length % 2 ? ['bench-b', 'bench-a'] : ['bench-a', 'bench-b'];
          spawnSync('sync');
          const args = ['migrate', '--pid', String(pid), '--from', from, '--to', to, '--no-warm', ...(direct ? [] : ['--no-direct']), '--checkpoint-id', `bench-mig-${runs.length}`, '--wait', '--json'];
          const r = await lib.timed(process.execPath, [FERRY, ...args], { env });
          const res = parseJson(r.stdout);
          const layer = res.checkpoint.layers[res.checkpoint.layers.length - 1];
          const criuFrozenMs = layer.stats.frozenTimeUs / 1000;
          const criuRestoreMs = (res.restore.restoreTimeUs ?? NaN) / 1000;
          const criuSumMs = criuFrozenMs + criuRestoreMs;
          const path = res.path ?? 'store';
          if (direct && path !== 'direct') throw new Error(`the direct path was not taken: ${res.directProblem}`);
          /** @type {MigrateRun} */
          const run = { from, to, path, round: i, wallMs: r.wallMs, downtimeMs: res.downtime.totalMs, parts: res.downtime.parts, criuFrozenMs, criuRestoreMs, criuSumMs, bytes: layer.bytes, stopReason: res.checkpoint.preDumps.stopReason, ratio: res.downtime.totalMs / criuSumMs };
          runs.push(run);
          lib.log(`migrate round ${i + 1}/${repeats} ${path} ${from}->${to}: downtime ${run.downtimeMs} ms, CRIU frozen ${criuFrozenMs.toFixed(0)} + restore ${criuRestoreMs.toFixed(0)} ms, parts ${JSON.stringify(run.parts)}`);
          pid = res.newPid;
          wl.pid = pid;
          await wl.verify(pid);
        }
      }
    } finally {
      await wl.stop(pid);
    }
  });
  /** @type {MigrateRaw} */
  const raw = { machine, mib, repeats, runs, finishedAt: new Date().toISOString() };
  const name = mib === 1024 ? 'migrate' : `migrate-${mib}`;
  // History follows the store path: the one every earlier result measured.
  raw.history = previousRuns(name, (/** @type {MigrateRaw} */ old) => lib.median(old.runs.filter((r) => (r.path ?? 'store') === 'store').map((r) => r.ratio)));
  lib.writeResult(name, renderMigrate(raw), raw);
  return raw;
}

/** @param {MigrateRaw} raw */
function renderMigrate(raw) {
  const paths = /** @type {Array<'direct' | 'store'>} */ (['direct', 'store']).filter((p) => raw.runs.some((r) => (r.path ?? 'store') === p));
  const byPath = paths.map((p) => raw.runs.filter((r) => (r.path ?? 'store') === p));
  /** @param {string} label @param {(r: MigrateRun) => number} get */
  const row = (label, get) => `| ${label} | ${byPath.map((rs) => lib.spread(rs.map(get))).join(' | ')} |`;
  const partNames = [...new Set(raw.runs.flatMap((r) => Object.keys(r.parts)))];
  const ratioOf = (/** @type {MigrateRun[]} */ rs) => lib.median(rs.map((r) => r.ratio));
  const lines = [
    '# Migration downtime: `ferry migrate` vs CRIU\'s own dump + restore (bench/workflows.js migrate)',
    '',
    `${raw.mib} MiB workload (test/fixtures/workload), migrated back and forth between two workers on this machine`,
    '(`ferry worker --host bench-a` and `--host bench-b`, separate staging dirs, dev stack Temporal + MinIO) with',
    '`ferry migrate --no-warm --wait --json`, each round once per path in alternating order; memory verified after every',
    'migration. No soft-dirty tracking here, so each migration is one full dump while frozen (`kernel-cannot-track`):',
    '"direct" sends it from the source worker to the target worker over TLS and stores it after the restore; "store"',
    `(--no-direct) uploads it to MinIO and downloads it inside the downtime. Load average at start: ${raw.machine.loadavg.join(' / ')}`,
    `on ${raw.machine.nproc} cores. Cells: median (min-max), ms.`,
    '',
    `| measure | ${paths.join(' | ')} |`,
    `|---|${paths.map(() => '---:').join('|')}|`,
    `| migrations | ${byPath.map((rs) => rs.length).join(' | ')} |`,
    row('ferry downtime (final dump start to running on target)', (r) => r.downtimeMs),
    row('CRIU frozen (stats-dump)', (r) => r.criuFrozenMs),
    row('CRIU restore (stats-restore)', (r) => r.criuRestoreMs),
    row('CRIU dump + restore', (r) => r.criuSumMs),
    ...partNames.map((p) => row(`downtime part: ${p}`, (r) => r.parts[p] ?? 0)),
    row('whole migration, wall (CLI start to exit)', (r) => r.wallMs),
    '',
    ...byPath.map((rs, i) => `Downtime / (CRIU dump + restore), ${paths[i]}: **${ratioOf(rs).toFixed(2)}x** (runs: ${rs.map((r) => r.ratio.toFixed(2)).join(', ')}).`),
  ];
  const direct = byPath[paths.indexOf('direct')];
  const store = byPath[paths.indexOf('store')];
  if (direct && store) {
    const pairs = direct.map((d) => store.find((s) => s.round === d.round)).map((s, i) => (s ? s.downtimeMs / direct[i].downtimeMs : NaN)).filter((x) => !Number.isNaN(x));
    lines.push(`Downtime through the store / direct, per round: **${lib.median(pairs).toFixed(2)}x** (rounds: ${pairs.map((x) => x.toFixed(2)).join(', ')}).`);
  }
  if (direct) lines.push(`Target (direct path): within 1.2x — **${ratioOf(direct) <= 1.2 ? 'met' : 'missed'}**.`);
  lines.push(...historyLines(raw), '');
  return lines.join('\n');
}

async function main() {
  if (process.argv[2] === '--child-plain') {
    process.stdout.write(`\n${JSON.stringify(await childPlain(Number(process.argv[3]), process.argv[4], process.argv[5]))}\n`);
    return;
  }
  const mode = process.argv[2];
  const mib = Number(arg('--mib', '1024'));
  const repeats = Number(arg('--repeats', '3'));
  if (mode === 'pipeline') process.stdout.write(renderPipeline(await pipeline(mib, repeats)));
  else if (mode === 'migrate') process.stdout.write(renderMigrate(await migrate(mib, repeats)));
  else if (mode === 'render') {
    for (const f of fs.readdirSync(path.join(__dirname, 'results'))) {
      const m = /^((pipeline|migrate)(-\d+)?)-raw\.json$/.exec(f);
      if (m) lib.writeResult(m[1], (m[2] === 'pipeline' ? renderPipeline : renderMigrate)(JSON.parse(fs.readFileSync(path.join(__dirname, 'results', f), 'utf8'))));
    }
  } else throw new Error('usage: node bench/workflows.js pipeline|migrate|render [--mib N] [--repeats N]');
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
