#!/usr/bin/env node
// Regenerates BENCHMARKS.md from bench/results/: a header (method, machine, load, date), a summary
// of the issue's targets computed from the raw results (met / missed and why), then each results
// file stitched in as a section. A result that is missing is reported as "not measured"; this
// script never invents a number.
//   node bench/write-benchmarks.js
// @ts-check
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { median, machine } = require('./lib');

const root = path.resolve(__dirname, '..');
const results = path.join(__dirname, 'results');
/** @param {string} name a file in bench/results @returns {string | null} */
const read = (name) => (fs.existsSync(path.join(results, name)) ? fs.readFileSync(path.join(results, name), 'utf8') : null);
/** @param {string} name a file in bench/results @returns {any} the parsed file (callers state its type), or null */
const readJson = (name) => {
  const t = read(name);
  return t ? JSON.parse(t) : null;
};

/**
 * A results file as a section: its own first heading dropped (we give our own), others demoted.
 * @param {string} title
 * @param {string} file
 * @param {string} [note]
 */
function section(title, file, note) {
  const text = read(file);
  if (!text) return [`## ${title}`, '', `**Not measured** in this run (no bench/results/${file}).`, ''];
  // A note addressed to whoever writes this file is dropped: this file is that writer.
  const body = text.replace(/^# .*\n/, '').replace(/^For BENCHMARKS\.md \(lead\)[\s\S]*?(\n\n|$)/m, '').replace(/^(#+) /gm, '#$1 ').trim();
  return [`## ${title}`, '', `Source: \`bench/results/${file}\`.${note ? ` ${note}` : ''}`, '', body, ''];
}

/** Issue 13's targets, from bench/workflows.js migrate at each size (direct and store paths side by side). */
function directTargets() {
  /** @type {string[][]} */
  const rows = [];
  const sizes = [256, 1024, 4096].map((mib) => ({ mib, raw: /** @type {import('./results').MigrateRaw | null} */ (readJson(mib === 1024 ? 'migrate-raw.json' : `migrate-${mib}-raw.json`)) }));
  const ratioOf = (/** @type {import('./results').MigrateRun[]} */ rs) => (rs.length ? median(rs.map((r) => r.ratio)) : null);
  const cells = sizes.map(({ mib, raw }) => {
    const runs = raw ? raw.runs : [];
    return { mib, direct: ratioOf(runs.filter((r) => r.path === 'direct')), store: ratioOf(runs.filter((r) => (r.path ?? 'store') === 'store')), directMs: runs.filter((r) => r.path === 'direct').map((r) => r.parts.directMs || 0) };
  });
  const gib = cells.find((c) => c.mib === 1024);
  const perSize = cells.filter((c) => c.direct !== null).map((c) => `${c.mib} MiB: direct ${(c.direct ?? 0).toFixed(2)}x, store ${c.store !== null ? c.store.toFixed(2) : '?'}x, transfer ${median(c.directMs).toFixed(0)} ms`).join('; ');
  rows.push([
    'Direct final layer: `ferry migrate` downtime vs CRIU dump + restore (1 GiB)',
    '<= 1.2x',
    gib && gib.direct !== null ? `${gib.direct.toFixed(2)}x (through the store: ${gib.store !== null ? gib.store.toFixed(2) : '?'}x)` : 'not measured',
    gib && gib.direct !== null ? (gib.direct <= 1.2 ? 'met' : '**missed**') : 'n/a',
    `${perSize}. Without pre-dumps (this kernel) the final layer is the whole process: it is sent after the dump and written to the target's staging disk before CRIU reads it back, in sequence; on this VM that disk moves a few hundred MiB/s. Overlapping the send with the dump (CRIU's page server through the same TLS link) is the next step.`,
  ]);
  rows.push(['`--lazy` downtime vs CRIU dump + restore (1 GiB)', '<= 0.25x', 'not built', 'n/a', 'Post-copy migration in the workflow is not built yet; `ferry dump --lazy-pages` / `ferry restore --lazy-pages` work by hand (docs/criu.md).']);
  rows.push(['`--lazy` downtime growth 256 MiB -> 4 GiB', '< 1.5x', 'not built', 'n/a', '']);
  return rows;
}

/** One sentence on the lab's migrate run (bench/lab-migrate.sh), where pre-dumps and the prefetch ran for real. */
function labMigrateNote() {
  /** @type {import('./results').MigrateLabRaw | null} */
  const raw = readJson('migrate-lab-raw.json');
  const all = (raw && raw.summary) || [];
  const runs = all.filter((r) => r.asked !== 0 && r.askedCatchUps !== 0 && r.askedDirect !== false);
  if (!runs.length) return 'Its downtime was not measured (bench/lab-migrate.sh, the soft-dirty lab, has no results).';
  const without = all.filter((r) => r.asked === 0 && r.askedDirect !== false);
  const MiB = 1048576;
  /** @param {import('./results').LabMigrateSummary[]} rs @param {(r: import('./results').LabMigrateSummary) => number} get */
  const m = (rs, get) => median(rs.map(get));
  return (
    `It ran in the soft-dirty lab (TCG guest, both hosts inside it; section "Migration with real pre-dumps"): ${m(runs, (r) => r.preDumps)} pre-dumps, ` +
    `${m(runs, (r) => (r.prefetch ? r.prefetch.bytes : 0) / MiB).toFixed(0)} MiB prefetched before the freeze, a final layer of ${m(runs, (r) => r.finalBytes / MiB).toFixed(1)} MiB, ` +
    `downtime ${m(runs, (r) => r.ratio).toFixed(2)}x CRIU's dump + restore` +
    (without.length ? ` (${m(without, (r) => r.ratio).toFixed(2)}x without pre-dumps; downtime ${m(without, (r) => r.downtimeMs).toFixed(0)} vs ${m(runs, (r) => r.downtimeMs).toFixed(0)} ms)` : '') +
    `; under TCG the guest moves data at a few MiB/s, so these ratios overstate what hardware would show.`
  );
}

function storageSummary() {
  const text = read('storage.md');
  if (!text) return null;
  /** @param {string} v */
  const row = (v) => {
    const m = new RegExp(`^\\| ${v} \\| ([0-9.]+) \\| ([0-9.]+) \\|.*\\| ([0-9., ]+) \\|$`, 'm').exec(text);
    if (!m) return null;
    const runs = m[3].split(',').map(Number);
    return { s: Number(m[1]), mibps: Number(m[2]), min: Math.min(...runs), max: Math.max(...runs) };
  };
  return { ferryUp: row('ferry-up'), sdkUp: row('sdk-up'), awsUp: row('aws-up'), ferryDown: row('ferry-down'), sdkDown: row('sdk-down'), awsDown: row('aws-down') };
}

/** @param {number} ratio @param {import('./results').HistoryEntry[]} history */
function pipelineVerdict(ratio, history) {
  const missed = history.filter((h) => h.ratio > 1.15);
  if (ratio <= 1.15) return missed.length ? `met in the latest run (quietest machine); **missed** in ${missed.length} of ${history.length} earlier runs under more load` : 'met';
  return '**missed**';
}

/** Earlier 1 GiB pipeline runs of this session (kept by bench/workflows.js), with their loads. */
function historyNote() {
  /** @type {import('./results').PipelineRaw | null} */
  const pipe = readJson('pipeline-raw.json');
  const h = (pipe && pipe.history) || [];
  if (!h.length) return '';
  return ` Earlier runs of the same bench in this session, under more load: ${h.map((x) => `${x.ratio.toFixed(2)}x at load ${x.load} (${x.at} UTC, ${x.runs} runs)`).join('; ')} — the ratio moves with the machine's load, because ferry's upload competes with MinIO and the worker for the 2 cores.`;
}

/**
 * What the 256 MiB pipeline run says about fixed costs, if it was measured.
 * @param {number} extraLarge ms ferry added at 1 GiB
 */
function fixedNote(extraLarge) {
  /** @type {import('./results').PipelineRaw | null} */
  const small = readJson('pipeline-256-raw.json');
  if (!small || !small.runs.ferry.length || !small.runs.plain.length) return '';
  const f = median(small.runs.ferry.map((r) => r.wallMs));
  const p = median(small.runs.plain.map((r) => r.wallMs));
  const extra = f - p;
  const verdict = extra >= 0.6 * extraLarge ? 'the extra does not shrink with the process, so it is mostly a fixed cost per checkpoint, not a cost per byte, and the ratio falls as processes grow' : 'part of the extra grows with the size';
  return ` At 256 MiB (separate run, same method, load ${small.machine.loadavg[0]} at its start): ferry ${f.toFixed(0)} vs plain ${p.toFixed(0)} ms (${(f / p).toFixed(2)}x, ${extra.toFixed(0)} ms more): ${verdict}.`;
}

function targets() {
  /** @type {string[][]} */
  const rows = [];
  /** @type {import('./results').PipelineRaw | null} */
  const pipe = readJson('pipeline-raw.json');
  if (pipe && pipe.runs.ferry.length && pipe.runs.plain.length) {
    /** @param {'wallMs' | 'workflowMs' | 'dumpMs' | 'uploadMs' | 'commitMs'} k */
    const f = (k) => median(pipe.runs.ferry.map((r) => r[k]));
    /** @param {'wallMs' | 'uploadMs'} k */
    const p = (k) => median(pipe.runs.plain.map((r) => r[k]));
    const ratio = f('wallMs') / p('wallMs');
    const extra = f('wallMs') - p('wallMs');
    const clientSide = f('wallMs') - f('workflowMs');
    const inUpload = f('uploadMs') - p('uploadMs');
    const inWorkflow = f('workflowMs') - (f('dumpMs') + f('uploadMs') + (f('commitMs') || 0));
    const why =
      `ferry adds ${extra.toFixed(0)} ms (medians). Its parts: the CLI outside the workflow (Node start, loading the Temporal client, connecting, fetching the result) ${clientSide.toFixed(0)} ms; ` +
      `the workflow's time not spent in dump, upload or commit (activity scheduling, staging, bookkeeping) ${inWorkflow.toFixed(0)} ms; ` +
      (inUpload >= 0
        ? `upload slower than one plain PutObject per file by ${inUpload.toFixed(0)} ms (ferry reads every file once more to hash it: SHA-256 content address + CRC32 per part); `
        : `upload ${Math.abs(inUpload).toFixed(0)} ms faster than one plain PutObject per file (parallel multipart parts), which offsets part of the fixed costs; `) +
      `commit ${(f('commitMs') || 0).toFixed(0)} ms (manifest written after every object is re-checked).` + fixedNote(extra) + historyNote();
    const perRound = pipe.runs.ferry.map((r, i) => r.wallMs / pipe.runs.plain[i].wallMs);
    rows.push(['Pipeline overhead: `ferry checkpoint` (1 GiB) vs plain dump + upload', '<= 1.15x', `${ratio.toFixed(2)}x (${f('wallMs').toFixed(0)} vs ${p('wallMs').toFixed(0)} ms wall, medians of ${pipe.runs.ferry.length}; per-round ratios ${Math.min(...perRound).toFixed(2)}-${Math.max(...perRound).toFixed(2)})`, pipelineVerdict(ratio, pipe.history || []), why]);
  } else rows.push(['Pipeline overhead: `ferry checkpoint` (1 GiB) vs plain dump + upload', '<= 1.15x', 'not measured', 'n/a', 'bench/results/pipeline-raw.json missing']);

  /** @type {import('./results').MigrateRaw | null} */
  const mig = readJson('migrate-raw.json');
  if (mig && mig.runs.length) {
    const direct = mig.runs.filter((r) => r.path === 'direct');
    const store = mig.runs.filter((r) => (r.path ?? 'store') === 'store');
    const runs = direct.length ? direct : store;
    const ratio = median(runs.map((r) => r.ratio));
    const down = median(runs.map((r) => r.downtimeMs));
    const sum = median(runs.map((r) => r.criuSumMs));
    const xfer = median(runs.map((r) => (r.parts.uploadMs || 0) + (r.parts.downloadMs || 0) + (r.parts.directMs || 0)));
    const other = median(runs.map((r) => r.parts.otherMs || 0));
    const without = median(runs.map((r) => (r.downtimeMs - (r.parts.uploadMs || 0) - (r.parts.downloadMs || 0) - (r.parts.directMs || 0)) / r.criuSumMs));
    const how = direct.length
      ? `the final dump goes straight from the source worker to the target's over TLS (${xfer.toFixed(0)} ms, median) and is stored after the restore` +
        (store.length ? `; through the store (upload, commit, download inside the downtime) the same migrations took ${median(store.map((r) => r.ratio)).toFixed(2)}x` : '')
      : `ferry's downtime includes sending it to S3 and fetching it on the target (${xfer.toFixed(0)} ms of upload + download, median)`;
    const why =
      ratio <= 1.2
        ? 'Orchestration adds little to CRIU\'s own time.'
        : `This kernel cannot track dirty memory, so there are no pre-dumps: the final dump is the whole ${mig.mib} MiB; ${how}, which CRIU's own dump + restore (${sum.toFixed(0)} ms) does not count. ` +
          `Without that transfer the downtime would be ${without.toFixed(2)}x CRIU's dump + restore (median per run): ferry's own dump and restore steps around CRIU plus scheduling between the steps ("otherMs", ${other.toFixed(0)} ms). On a soft-dirty kernel the final layer carries only the pages dirtied since the last pre-dump (see the lab section). ${labMigrateNote()}`;
    rows.push([`Migration downtime (\`ferry migrate\`${direct.length ? ', direct' : ''}, ${mig.mib} MiB) vs CRIU dump + restore`, '<= 1.2x', `${ratio.toFixed(2)}x (${down.toFixed(0)} vs ${sum.toFixed(0)} ms, median of ${runs.length})`, ratio <= 1.2 ? 'met' : '**missed**', why]);
  } else rows.push(['Migration downtime (`ferry migrate`) vs CRIU dump + restore', '<= 1.2x', 'not measured', 'n/a', 'bench/results/migrate-raw.json missing']);

  const st = storageSummary();
  if (st && st.ferryUp && st.sdkUp) {
    const bestUp = [st.sdkUp, st.awsUp].filter((x) => x !== null).reduce((a, b) => (a.s < b.s ? a : b));
    const bestDown = [st.sdkDown, st.awsDown].filter((x) => x !== null).reduce((a, b) => (a.s < b.s ? a : b));
    const upOk = st.ferryUp.s <= bestUp.s;
    const downOk = st.ferryDown && st.ferryDown.s <= bestDown.s;
    rows.push([
      'Storage throughput, 1 GiB layer (up / down) vs best baseline',
      'at least as fast as the best baseline',
      `up ${st.ferryUp.mibps} MiB/s vs ${bestUp.mibps}; down ${st.ferryDown ? st.ferryDown.mibps : 'n/a'} MiB/s vs ${bestDown.mibps}`,
      upOk && downOk ? 'met' : '**missed**',
      upOk && downOk
        ? ''
        : `ferry's median is ${versus(st.ferryUp, bestUp)} up and ${st.ferryDown ? versus(st.ferryDown, bestDown) : 'n/a'} down; where the ranges overlap, the gap is within this machine's run-to-run spread. ` +
          'ferry hashes every byte (SHA-256 content address on upload, SHA-256 verification before a downloaded file is exposed) and the server checks a CRC32 per part; on this 2-core machine that CPU competes with MinIO on loopback. Plain PutObject/GetObject baselines verify nothing. See the storage section for the per-run numbers.',
    ]);
  } else rows.push(['Storage throughput vs best baseline', 'at least as fast', 'not measured', 'n/a', 'bench/results/storage.md missing']);

  // Worker memory: every upload measured this run, in the growth bench and the upload-memory bench.
  /** @type {import('./results').GrowthRaw | null} */
  const g = readJson('growth-raw.json');
  /** @type {import('./results').UploadMemoryRaw | null} */
  const um = readJson('upload-memory-raw.json');
  /** @typedef {{ growth: number, src: string, bufs: number | undefined, heap: number | undefined }} Sample  bufs and heap were sampled together: both or neither */
  /** @type {Map<number, Sample[]>} */
  const bySize = new Map();
  /** @param {number} mib @param {number} growth @param {string} src @param {number | undefined} bufs @param {number | undefined} heap */
  const add = (mib, growth, src, bufs, heap) => {
    let samples = bySize.get(mib);
    if (!samples) bySize.set(mib, (samples = []));
    samples.push({ growth, src, bufs, heap });
  };
  // Every size in `sizes` below is a key of bySize.
  const samplesOf = (/** @type {number} */ mib) => /** @type {Sample[]} */ (bySize.get(mib));
  /** @type {number | null} part-buffer pool (MiB) of the uploads measured; every size's runs set it */
  let pool = null;
  if (g) for (const h of g.history || []) for (const r of h.runs) add(h.mib, r.uploadGrowthMiB, 'growth bench, earlier run', r.uploadBuffersGrowthMiB, r.uploadHeapGrowthMiB);
  if (g) for (const [mib, e] of Object.entries(g.sizes)) for (const r of e.runs) { add(Number(mib), r.uploadGrowthMiB, 'growth bench', r.uploadBuffersGrowthMiB, r.uploadHeapGrowthMiB); pool = (r.concurrency * r.partSize) / 1048576; }
  if (um) for (const [mib, e] of Object.entries(um.sizes)) for (const r of e.runs) { add(Number(mib), r.growthMiB, 'upload-memory bench', r.arrayBuffersGrowthMiB, r.heapUsedGrowthMiB); pool = (r.concurrency * r.partSize) / 1048576; }
  if (bySize.size) {
    // Earlier runs (history) only exist beside the sizes that replaced them, so pool is set here.
    const poolMiB = /** @type {number} */ (pool);
    const allowance = (g && g.sdkAllowanceMiB) || 32;
    const sizes = [...bySize.keys()].sort((a, b) => a - b);
    const worst = sizes.map((s) => Math.max(...samplesOf(s).map((x) => x.growth)));
    const med = sizes.map((s) => median(samplesOf(s).map((x) => x.growth)));
    const overRuns = sizes.flatMap((s) => samplesOf(s).filter((x) => x.growth > poolMiB + allowance));
    const unsampled = overRuns.some((x) => x.bufs === undefined);
    const over = sizes.flatMap((s) =>
      samplesOf(s).filter((x) => x.growth > poolMiB + allowance).map((x) => `${s} MiB: +${x.growth.toFixed(0)} MiB (${x.src}${x.bufs !== undefined ? `; Buffers +${x.bufs.toFixed(0)}, V8 heap +${/** @type {number} */ (x.heap).toFixed(0)} MiB` : ', not sampled'})`),
    );
    const n = sizes.reduce((a, s) => a + samplesOf(s).length, 0);
    rows.push([
      'Worker memory while uploading, independent of layer size',
      `RSS growth <= ${poolMiB} MiB part buffers + ${allowance} MiB (SDK, stream chunks)`,
      sizes.map((s, i) => `${s >= 1024 ? `${s / 1024} GiB` : `${s} MiB`}: median +${med[i].toFixed(0)}, worst +${worst[i].toFixed(0)} MiB (${samplesOf(s).length} uploads)`).join('; '),
      over.length === 0 ? 'met' : `**missed in ${over.length} of ${n} uploads**`,
      over.length === 0
        ? `Median growth stays flat from ${sizes[0]} MiB to ${sizes[sizes.length - 1]} MiB layers.`
        : `Medians are flat with layer size (memory does not scale with the layer), but single uploads went over the stated bound: ${over.join('; ')}. ` +
          (um
            ? `In the ${Object.values(um.sizes).reduce((a, e) => a + e.runs.length, 0)} sampled uploads (upload-memory section) Buffers outside the V8 heap grew by ${Math.max(...Object.values(um.sizes).flatMap((e) => e.runs.map((r) => r.arrayBuffersGrowthMiB))).toFixed(0)} MiB at most (the part poolMiB) and the V8 heap by ${Math.max(...Object.values(um.sizes).flatMap((e) => e.runs.map((r) => r.heapUsedGrowthMiB))).toFixed(0)} MiB at most; ${unsampled ? 'an over-bound run was not sampled, so what made its excess was not captured. ' : 'the remainder of an over-bound run is native memory outside both. '}`
            : '') +
          'Until that is understood, size a worker for part buffers + ~64 MiB, or lower partSize/concurrency.',
    ]);
  } else rows.push(['Worker memory while uploading', 'bounded', 'not measured', 'n/a', 'no growth or upload-memory results']);

  const lab = read('lab.md');
  const labSizes = labSizesMeasured();
  const missing = [256, 1024, 4096].filter((s) => !labSizes.includes(s)).map(sizeName);
  rows.push([
    'Downtime: final dump after pre-dumps vs one full dump (soft-dirty lab, TCG)',
    'no numeric target in the issue',
    lab ? 'see the lab sections (ratios full / final per size and dirty rate)' : 'not measured',
    lab ? `measured at ${labSizes.map(sizeName).join(', ')}${missing.length ? `; ${missing.join(' and ')} not measured (TCG guest memory, run time)` : ''}` : 'n/a',
    'Only in a TCG-emulated guest: this host\'s kernel has no soft-dirty tracking. Absolute times do not carry over; the ratio does.',
  ]);
  /** @type {import('./results').ChainRaw | null} */
  const chain = readJson('chain-raw.json');
  if (chain && chain.layers.length) {
    const L = chain.layers;
    const later = L.slice(1);
    const frozen = later.map((l) => l.stats.frozenTimeUs / 1000);
    const stored = L.reduce((a, l) => a + l.bytes, 0) / 1048576 + chain.final.bytes / 1048576;
    rows.push([
      `Cost growth with chain length (1 to ${L.length} nightly layers)`,
      'table + plot',
      `final dump on ${L.length} layers frozen ${(chain.final.stats.frozenTimeUs / 1000).toFixed(0)} ms vs full dump ${(chain.full.stats.frozenTimeUs / 1000).toFixed(0)} ms; pre-dump frozen ${frozen.length ? `${Math.min(...frozen).toFixed(0)}-${Math.max(...frozen).toFixed(0)} ms for layers 2-${L.length}` : 'n/a'} (layer 1: ${(L[0].stats.frozenTimeUs / 1000).toFixed(0)} ms); stored ${stored.toFixed(0)} MiB in all; restore from ${L.length + 1} layers ${chain.restore.restoreTimeUs === null ? 'n/a' : `${(chain.restore.restoreTimeUs / 1000).toFixed(0)} ms`} in CRIU but ${chain.restore.wallMs} ms wall${chain.restore.chainCheckMs !== undefined ? ` (ferry's chain check alone: ${chain.restore.chainCheckMs} ms)` : ''}, memory ${chain.restore.verify.ok ? 'verified' : 'WRONG'}`,
      'measured (lab, TCG, one run)',
      `Only in the TCG-emulated soft-dirty lab (this host cannot pre-dump); one run, so no spread. Per-layer pre-dump costs stay flat and stored bytes grow linearly; the final dump on top of the chain was frozen ${chain.final.stats.frozenTimeUs < chain.full.stats.frozenTimeUs ? 'shorter' : 'LONGER'} than a full dump of the same process. ` +
        (chain.restore.chainCheckMs !== undefined
          ? `ferry's chain check before a restore (\`assertRestorableChain\`: every layer's pagemaps, inventory and layer record) took ${chain.restore.chainCheckMs} ms of the ${chain.restore.wallMs} ms restore under TCG. Its search for a newer sibling layer now reads only the siblings' inventories; before that change it read every sibling's pagemaps, which is quadratic when all layers share one directory (113657 ms for a chain of the same length in the earlier run). `
          : '') +
        'See the chain section.',
    ]);
  } else {
    rows.push([
      'Cost growth with chain length (1 to 30 nightly layers)',
      'table + plot',
      'not measured',
      'n/a',
      'Needs soft-dirty pre-dumps, so only the TCG lab can produce such a chain (`bash bench/lab-chain.sh`); it was not run to completion in this session. Not measured.',
    ]);
  }
  return rows;
}

/** @typedef {{ s: number, mibps: number, min: number, max: number }} StorageRow  one row of storage.md: median seconds, MiB/s, run range */

/**
 * "11% slower" or "1% faster" (medians), plus whether the runs' ranges overlap.
 * @param {StorageRow} ferry
 * @param {StorageRow} base
 */
function versus(ferry, base) {
  const pct = ((ferry.s - base.s) / base.s) * 100;
  const rel = pct > 0.5 ? `${pct.toFixed(0)}% slower` : pct < -0.5 ? `${(-pct).toFixed(0)}% faster` : 'as fast';
  const overlap = ferry.min <= base.max && base.min <= ferry.max;
  return `${rel} (runs ${ferry.min.toFixed(2)}-${ferry.max.toFixed(2)} s vs ${base.min.toFixed(2)}-${base.max.toFixed(2)} s${overlap ? ', ranges overlap' : ''})`;
}

/** Names of the catch-up bench results (bench/results/<name>-raw.json: converge, converge-4g, ...). */
function convergeResultNames() {
  return fs
    .readdirSync(path.join(root, 'bench', 'results'))
    .map((f) => /^(converge(-[a-z0-9-]+)?)-raw\.json$/.exec(f))
    .filter((m) => m !== null)
    .map((m) => /** @type {RegExpExecArray} */ (m)[1])
    .sort();
}

/**
 * Issue 12's targets, from the catch-up bench (bench/lab-converge.sh) and the lab migration bench.
 * @returns {string[][]}
 */
function convergeTargets() {
  /** @type {any[]} */
  const runs = convergeResultNames().flatMap((n) => {
    const raw = readJson(`${n}-raw.json`);
    const task = raw && raw.tasks.find((/** @type {any} */ t) => t.kind === 'converge' && t.ok);
    return task ? task.value.runs : [];
  });
  const rows = [];
  /** @param {any[]} rs @param {'before' | 'after'} v */
  const ratio = (rs, v) => median(rs.map((r) => r.full.frozenTimeUs / r[v].final.frozenTimeUs));
  /** @type {Map<string, any[]>} */
  const groups = new Map();
  for (const r of runs) {
    const key = `${r.mib}|${r.dirtyPermille}`;
    if (!groups.has(key)) groups.set(key, []);
    /** @type {any[]} */ (groups.get(key)).push(r);
  }
  const target = groups.get('1024|5');
  rows.push([
    'Final dump frozen vs a full dump, 1 GiB, 0.5% of pages per 200 ms (lab)',
    'at least 5x shorter',
    target ? `${ratio(target, 'after').toFixed(2)}x with catch-up rounds (${ratio(target, 'before').toFixed(2)}x without them, same run, ${target.length} runs)` : 'not measured',
    target ? (ratio(target, 'after') >= 5 ? 'met' : '**missed**') : 'n/a',
    'The rounds stop at a floor: in the emulated guest a step costs about a second however small, in which 0.5% per 200 ms dirties ' +
      'about 6500 pages; and scattered pages cost the final dump 50-80 us each against 11 us for the contiguous pages of a full dump, ' +
      'so the final dump after the rounds (median about 17000 pages) stays near 1 s. On hardware both costs are many times smaller. ' +
      'See "Catch-up rounds (soft-dirty lab)" for each run\'s rounds and why they stopped.',
  ]);
  const cells = [...groups.values()].map((rs) => ({ name: `${sizeName(rs[0].mib)} ${(rs[0].dirtyPermille / 10).toFixed(1)}%`, after: ratio(rs, 'after'), before: ratio(rs, 'before') }));
  const longer = cells.filter((c) => c.after < 1);
  rows.push([
    'Final dump never longer than a full dump, any size and rate measured (lab)',
    'full / final >= 1 everywhere',
    cells.length ? cells.map((c) => `${c.name}: ${c.after.toFixed(2)}x (before ${c.before.toFixed(2)}x)`).join('; ') : 'not measured',
    cells.length ? (longer.length ? `**missed** at ${longer.map((c) => c.name).join(', ')}` : 'met') : 'n/a',
    'Medians of per-run ratios. Where the process dirties pages about as fast as the guest dumps scattered pages (1 GiB at 2%, ' +
      '4 GiB at 0.5%: about 100 MiB/s) no round can shrink the dirty set, and a final dump of scattered pages is slower than a full ' +
      'dump of contiguous ones. Catch-ups stop there as "not-converging"; the remedy not built yet is a final dump without a parent ' +
      '(a full dump) when the rules predict the incremental one to be slower (the manifest must then accept a chain that restarts).',
  ]);
  /** @type {import('./results').MigrateLabRaw | null} */
  const mig = readJson('migrate-lab-raw.json');
  const all = (mig && mig.summary) || [];
  const withPre = all.filter((r) => r.asked !== 0 && r.askedCatchUps !== 0);
  const noCatchUps = all.filter((r) => r.asked !== 0 && r.askedCatchUps === 0);
  const without = all.filter((r) => r.asked === 0);
  /** @param {import('./results').LabMigrateSummary[]} a @param {import('./results').LabMigrateSummary[]} b */
  const perRound = (a, b) => median(b.map((r, i) => (a[i] ? a[i].downtimeMs / r.downtimeMs : NaN)).filter((x) => !Number.isNaN(x)));
  const migRatio = withPre.length && without.length ? perRound(without, withPre) : null;
  rows.push([
    'Lab migration downtime with pre-dumps vs without',
    'at least 4x shorter',
    migRatio !== null
      ? `${migRatio.toFixed(2)}x${noCatchUps.length ? ` (pre-dumps without catch-up rounds: ${perRound(without, noCatchUps).toFixed(2)}x, same run)` : ''}`
      : 'not measured',
    migRatio !== null ? (migRatio >= 4 ? 'met' : '**missed**') : 'n/a',
    'With catch-ups the final layer is 0.5 MiB (18 MiB without them), yet the downtime stays about 10 s: under emulation each ' +
      'step inside the downtime has a fixed cost of seconds (upload 4.1 s, commit 1.8 s, download 1.9 s, restore 2.2 s, medians). ' +
      'Those fixed costs, not the bytes, are what is left; issue 13 (final layer host to host) and 17 (fixed cost per step) address them. ' +
      'See "Migration with real pre-dumps (soft-dirty lab)".',
  ]);
  return rows;
}

/** @param {number} mib */
const sizeName = (mib) => (mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`);

/** Names of the lab downtime results (bench/results/<name>-raw.json: lab, and --out runs such as lab-4g). */
function labResultNames() {
  return fs
    .readdirSync(path.join(root, 'bench', 'results'))
    .map((f) => /^(lab(-[a-z0-9-]+)?)-raw\.json$/.exec(f))
    .filter((m) => m !== null)
    .map((m) => m[1])
    .sort();
}

/**
 * The dirty rates of one lab results file, e.g. "0.1% and 0.5% of pages per 200 ms".
 * @param {string} name
 */
function labRatesMeasured(name) {
  /** @type {import('./results').LabRaw | null} */
  const raw = readJson(`${name}-raw.json`);
  /** @type {import('./results').LabBenchRun[]} */
  const runs = raw ? raw.tasks.filter((t) => t.kind === 'bench' && t.ok).flatMap((t) => t.value.runs) : [];
  const rates = [...new Set(runs.map((r) => r.dirtyPermille))].sort((a, b) => a - b).map((p) => `${p / 10}%`);
  return runs.length ? `${rates.join(' and ')} of pages per ${runs[0].intervalMs} ms` : 'no runs';
}

/** Workload sizes (MiB) of the lab downtime runs, from the given (default: every) lab results file. */
function labSizesMeasured(names = labResultNames()) {
  /** @type {Set<number>} */
  const sizes = new Set();
  for (const name of names) {
    /** @type {import('./results').LabRaw | null} */
    const raw = readJson(`${name}-raw.json`);
    for (const t of raw ? raw.tasks : []) if (t.kind === 'bench' && t.ok) for (const r of t.value.runs) sizes.add(r.mib);
  }
  return [...sizes].sort((a, b) => a - b);
}

function main() {
  /** @type {import('./results').RunInfo} */
  const info = readJson('run-info.json') || { ...machine(), note: 'run-info.json missing: machine facts taken when BENCHMARKS.md was written' };
  const m = info;
  const lines = [];
  lines.push('# ferry benchmarks');
  lines.push('');
  lines.push(`Generated by \`make bench\` (\`bash bench/run-all.sh\`, then \`node bench/write-benchmarks.js\`) from the files in \`bench/results/\`. Run started ${m.date}${m.quick ? ' (quick mode: BENCH_QUICK=1, smaller sizes and fewer runs)' : ''}.${m.note ? ` Note: ${m.note}.` : ''}`);
  lines.push('');
  lines.push('## Machine and load');
  lines.push('');
  lines.push(`- ${m.nproc} cores, ${m.memGiB} GiB RAM, Linux ${m.kernel} (Firecracker VM, no soft-dirty memory tracking: \`CONFIG_MEM_SOFT_DIRTY\` off), ${m.criu}, Node ${m.node}.`);
  const shared =
    m.shared === false
      ? 'Nothing else ran on the machine during the host steps but the benchmark itself (its MinIO, Temporal dev server and workers); single runs still vary (disk write-back, page cache): see the min-max columns.'
      : "**The machine was shared with other engineers' builds and tests during this run**, so absolute times carry noise (single runs of the same step varied up to ~2x: see the min-max columns).";
  lines.push(`- Load average when the run started: ${m.loadavg.join(' / ')} (1 / 5 / 15 min). ${shared} Every comparison below is between variants measured side by side in the same run, interleaved; read the ratios, not the absolute milliseconds.`);
  lines.push('- Storage: MinIO on loopback (the dev stack\'s, or a private one for the storage bench), same disk as the images. Temporal: the dev stack\'s dev server (SQLite).');
  lines.push('');
  lines.push('## Method');
  lines.push('');
  lines.push('- Real components only: CRIU 4.1.1 on real processes (the workload fixture `test/fixtures/workload`: N MiB of anonymous memory, 1% of its pages rewritten every 200 ms, every page verified after each restore), real MinIO, real Temporal dev server with `ferry worker` processes.');
  lines.push('- Each timed step runs in its own process (under `/usr/bin/time` for peak RSS). Cells give the median and, in brackets, min-max over the runs; the number of runs is in each table.');
  lines.push('- Ratios are medians of the two variants measured in the same run (and per-run ratios where given).');
  lines.push('- Every number below was measured by the scripts named in its section; anything not measured says so.');
  lines.push('');
  lines.push('## Targets (issue 8)');
  lines.push('');
  lines.push('| what | target | measured | verdict | why |');
  lines.push('|---|---|---|---|---|');
  for (const r of targets()) lines.push(`| ${r.join(' | ')} |`);
  lines.push('');
  lines.push('## Targets (issue 12: pre-copy that converges)');
  lines.push('');
  lines.push('| what | target | measured | verdict | notes |');
  lines.push('|---|---|---|---|---|');
  for (const r of convergeTargets()) lines.push(`| ${r.join(' | ')} |`);
  lines.push('');
  for (const name of convergeResultNames()) {
    lines.push(...section(`Catch-up rounds (soft-dirty lab)${name === 'converge' ? '' : `, ${name.replace(/^converge-/, '')}`}`, `${name}.md`, `Written by \`bench/lab-converge.sh${name === 'converge' ? '' : ` --out ${name}`}\`, included as it stands.`));
  }
  lines.push(...section('Cost growth with process size and worker memory', 'growth.md', fs.existsSync(path.join(root, 'BENCHMARKS-growth.svg')) ? 'Plot: [BENCHMARKS-growth.svg](BENCHMARKS-growth.svg).' : ''));
  if (fs.existsSync(path.join(root, 'BENCHMARKS-growth.svg'))) lines.push('![cost growth with process size](BENCHMARKS-growth.svg)', '');
  lines.push(...section('Worker memory while uploading', 'upload-memory.md'));
  if (read('driver.md')) lines.push(...section('Dump and restore: ferry\'s RPC driver vs the criu CLI', 'driver.md'));
  lines.push(...section('Pipeline overhead', 'pipeline.md'));
  if (read('pipeline-256.md')) lines.push(...section('Pipeline overhead at 256 MiB (which costs are fixed)', 'pipeline-256.md'));
  lines.push('## Targets (issue 13: migration whose downtime does not cross S3)');
  lines.push('');
  lines.push('| what | target | measured | verdict | notes |');
  lines.push('|---|---|---|---|---|');
  for (const r of directTargets()) lines.push(`| ${r.join(' | ')} |`);
  lines.push('');
  lines.push(...section('Migration downtime', 'migrate.md'));
  if (read('migrate-256.md')) lines.push(...section('Migration downtime at 256 MiB', 'migrate-256.md'));
  if (read('migrate-4096.md')) lines.push(...section('Migration downtime at 4 GiB', 'migrate-4096.md'));
  if (read('migrate-lab.md')) lines.push(...section('Migration with real pre-dumps (soft-dirty lab)', 'migrate-lab.md', 'Written by `bench/lab-migrate.sh`, included as it stands.'));
  lines.push(...section('Storage throughput', 'storage.md', 'Written by `bench/storage-throughput.ts`, included as it stands.'));
  if (read('transfer-limit.md')) {
    lines.push(...section('Transfer limit (FERRY_TRANSFER_LIMIT)', 'transfer-limit.md', 'Written by `bench/transfer-limit.ts`, included as it stands.'));
  }
  lines.push(...section('Downtime with pre-dumps (soft-dirty lab)', 'lab.md', 'Written by `bench/lab-downtime.sh`, included as it stands.'));
  const bySize = (/** @type {string} */ a, /** @type {string} */ b) => Math.min(...labSizesMeasured([a])) - Math.min(...labSizesMeasured([b])) || (a < b ? -1 : 1);
  for (const name of labResultNames().filter((n) => n !== 'lab' && read(`${n}.md`)).sort(bySize)) {
    lines.push(...section(`Downtime with pre-dumps at ${labSizesMeasured([name]).map(sizeName).join(', ')}, ${labRatesMeasured(name)} (soft-dirty lab)`, `${name}.md`, `Written by \`bench/lab-downtime.sh --out ${name}\` in a separate guest boot with more memory, included as it stands.`));
  }
  lines.push(...section('Cost growth with chain length (soft-dirty lab)', 'chain.md'));
  if (fs.existsSync(path.join(root, 'BENCHMARKS-chain.svg')) && read('chain.md')) lines.push('![cost growth with chain length](BENCHMARKS-chain.svg)', '');
  const labSizes = labSizesMeasured();
  const missing = [1024, 4096].filter((s) => !labSizes.includes(s)).map(sizeName);
  lines.push('## Not measured');
  lines.push('');
  if (!read('chain.md')) lines.push('- Chain length growth (1 to 30 nightly layers): see the targets table for why.');
  if (missing.length) lines.push(`- Pre-dump downtime at ${missing.join(' and ')}: the lab guest (TCG) ran ${labSizes.map(sizeName).join(', ') || 'no size'}; on this host pre-dumps are impossible (no soft-dirty).`);
  lines.push('- Cost growth above was measured with full dumps only, for the same reason.');
  lines.push('');
  fs.writeFileSync(path.join(root, 'BENCHMARKS.md'), lines.join('\n'));
  process.stdout.write(`${path.join(root, 'BENCHMARKS.md')}\n`);
}

main();
