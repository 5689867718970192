// Shared helpers of ferry's host benchmarks (growth, pipeline, migrate): statistics, the workload
// fixture as a daemon, machine facts, child processes under /usr/bin/time, and cleanup of a bench
// prefix in the bucket. Plain CommonJS over dist/: benchmarks measure the built code users run.
// @ts-check
'use strict';
const { execFile, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const MiB = 1024 * 1024;

/**
 * A module of the built code (dist/ is not type-checked from here: its exports are `any`).
 * @param {string} rel
 * @returns {any}
 */
function requireDist(rel) {
  const file = path.join(root, 'dist', rel);
  if (!fs.existsSync(`${file}.js`) && !fs.existsSync(path.join(file, 'index.js'))) {
    throw new Error(`${path.relative(root, file)} is not built; run 'npm run build' first`);
  }
  return require(file);
}

/** @param {number} ms @returns {Promise<void>} */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** @param {number[]} xs */
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * "median (min-max)" with a fixed number of decimals.
 * @param {number[]} xs
 */
function spread(xs, digits = 0) {
  if (xs.length === 0) return 'not measured';
  const f = (/** @type {number} */ x) => x.toFixed(digits);
  return xs.length === 1 ? `${f(xs[0])} (1 run)` : `${f(median(xs))} (${f(Math.min(...xs))}-${f(Math.max(...xs))})`;
}

/**
 * @template T
 * @param {string} what
 * @param {number} timeoutMs
 * @param {() => T | null | undefined | false | Promise<T | null | undefined | false>} probe
 * @returns {Promise<T>}
 */
async function poll(what, timeoutMs, probe) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined && v !== false) return /** @type {T} */ (v);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** @returns {import('./results').Machine} */
function machine() {
  let criu = 'unknown';
  try {
    criu = execFileSync(process.env.FERRY_CRIU || 'criu', ['--version'], { encoding: 'utf8' }).split('\n')[0].replace(/^Version:\s*/, 'CRIU ').trim();
  } catch {
    // reported as unknown
  }
  return {
    nproc: os.cpus().length,
    memGiB: +(os.totalmem() / 1024 ** 3).toFixed(1),
    kernel: os.release(),
    loadavg: os.loadavg().map((x) => +x.toFixed(2)),
    criu,
    node: process.version,
    date: new Date().toISOString(),
  };
}

/** The workload fixture (test/fixtures/workload) as a daemon; build/workload is built when missing. */
class Workload {
  /** @param {number} mib @param {{ dirtyPermille?: number, intervalMs?: number }} [options] */
  static async start(mib, { dirtyPermille = 10, intervalMs = 200 } = {}) {
    const binary = path.join(root, 'build', 'workload');
    if (!fs.existsSync(binary)) execFileSync('bash', [path.join(root, 'test', 'fixtures', 'workload', 'build.sh')], { stdio: 'ignore' });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-wl-'));
    const pidfile = path.join(dir, 'pid');
    execFileSync(binary, ['--pidfile', pidfile, '--result', path.join(dir, 'verify.json'), '--mib', String(mib), '--dirty-permille', String(dirtyPermille), '--interval-ms', String(intervalMs)]);
    // The pidfile appears once the memory is filled: a 4 GiB workload takes a while.
    const pid = await poll('the workload pidfile', 120000, () => {
      const t = fs.existsSync(pidfile) ? fs.readFileSync(pidfile, 'utf8').trim() : '';
      return /^\d+$/.test(t) ? Number(t) : null;
    });
    return new Workload(pid, dir, mib);
  }

  /** @param {number} pid @param {string} dir @param {number} mib */
  constructor(pid, dir, mib) {
    this.pid = pid;
    this.dir = dir;
    this.mib = mib;
  }

  alive() {
    try {
      const t = fs.readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      return !/^[ZX]$/.test(t.slice(t.lastIndexOf(')') + 2).split(' ')[0]);
    } catch {
      return false;
    }
  }

  /** Asks the workload to check every page; throws when a page is wrong. */
  async verify(pid = this.pid) {
    const file = path.join(this.dir, 'verify.json');
    fs.rmSync(file, { force: true });
    process.kill(pid, 'SIGUSR1');
    const text = await poll(`verification by pid ${pid}`, 60000, () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null));
    const r = JSON.parse(text);
    if (!r.ok) throw new Error(`workload memory verification failed: ${text}`);
    return r;
  }

  async stop(pid = this.pid) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await poll(`pid ${pid} to be released`, 20000, () => !fs.existsSync(`/proc/${pid}`)).catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Sum of the regular files' sizes in a dir (a CRIU images dir).
 * @param {string} dir
 */
function dirBytes(dir) {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isFile()) total += fs.statSync(path.join(dir, e.name)).size;
  return total;
}

/**
 * Runs a command under /usr/bin/time -f %M. Returns wall ms, peak RSS (KiB, the largest of the
 * process and its waited-for children), stdout and the last stdout line parsed as JSON if it is.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ env?: NodeJS.ProcessEnv, timeoutMs?: number }} [options]
 * @returns {Promise<{ wallMs: number, peakKiB: number, stdout: string, stderr: string, json: any }>}
 */
async function timed(cmd, args, { env = process.env, timeoutMs = 600000 } = {}) {
  const timeFile = path.join(os.tmpdir(), `ferry-bench-time-${process.pid}-${Date.now()}`);
  const t0 = process.hrtime.bigint();
  /** @type {{ stdout: string, stderr: string }} */
  const result = await new Promise((resolve, reject) => {
    execFile('/usr/bin/time', ['-f', '%M', '-o', timeFile, cmd, ...args], { env, maxBuffer: 64 * MiB, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr.slice(-3000)}\n${stdout.slice(-2000)}`), { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const peakKiB = Number(fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop());
  fs.rmSync(timeFile, { force: true });
  const last = result.stdout.trim().split('\n').pop() || '';
  let json = null;
  if (last.startsWith('{')) json = JSON.parse(last);
  return { wallMs, peakKiB, stdout: result.stdout, stderr: result.stderr, json };
}

/** This process's peak RSS (VmHWM) in KiB. */
function vmHwmKiB() {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : -1;
}

/** Resets VmHWM to the current RSS (Linux clear_refs 5), so a later VmHWM is the peak of what follows. */
function resetHwm() {
  fs.writeFileSync('/proc/self/clear_refs', '5');
}

/**
 * Deletes every object under `prefix/` in the bucket (bench prefixes only).
 * @param {import('@aws-sdk/client-s3').S3Client} client
 * @param {string} bucket
 * @param {string} prefix
 */
async function deletePrefix(client, bucket, prefix) {
  const { ListObjectsV2Command, DeleteObjectsCommand, ListMultipartUploadsCommand, AbortMultipartUploadCommand } = require('@aws-sdk/client-s3');
  if (!/^bench-/.test(prefix)) throw new Error(`refusing to delete prefix ${prefix}: not a bench prefix`);
  let deleted = 0;
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/` }));
    const keys = (page.Contents || []).map((o) => ({ Key: o.Key }));
    if (keys.length === 0) break;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    deleted += keys.length;
  }
  const ups = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${prefix}/` }));
  for (const u of ups.Uploads || []) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
  return deleted;
}

/** @param {string} name @param {string} doc @param {unknown} [raw] */
function writeResult(name, doc, raw) {
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.md`), doc);
  if (raw) fs.writeFileSync(path.join(dir, `${name}-raw.json`), `${JSON.stringify(raw, null, 2)}\n`);
}

/** @param {string} msg */
function log(msg) {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/**
 * Uploads `dir` as one layer through the dev stack's layer store (dist/storage) and measures the
 * memory it costs: the connection and SDK are warmed first, then VmHWM is reset, so `growthKiB` is
 * the upload's own; V8 heap and Buffers outside it are sampled every 20 ms to tell them apart.
 * @param {string} dir
 * @param {string} checkpointId
 * @returns {Promise<import('./results').MeasuredUpload>}
 */
async function measuredUpload(dir, checkpointId) {
  const { loadConfig } = requireDist('config/config');
  const storage = requireDist('storage');
  const { ListObjectsV2Command } = require('@aws-sdk/client-s3');
  const config = loadConfig();
  const store = storage.openLayerStore(config);
  await store.client.send(new ListObjectsV2Command({ Bucket: config.s3.bucket, Prefix: config.s3.prefix, MaxKeys: 1 }));
  resetHwm();
  const baselineKiB = vmHwmKiB();
  const base = process.memoryUsage();
  const max = { heapUsed: 0, arrayBuffers: 0 };
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    max.heapUsed = Math.max(max.heapUsed, m.heapUsed);
    max.arrayBuffers = Math.max(max.arrayBuffers, m.arrayBuffers);
  }, 20);
  // The layer record of a bench upload (no real process behind it), shared with storage-throughput.ts.
  const layer = { ...require('./bench-layer.json'), kernel: os.release() };
  try {
    const t0 = process.hrtime.bigint();
    const { report } = await store.putLayerReport(checkpointId, layer, dir);
    const uploadMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const peakKiB = vmHwmKiB();
    return {
      uploadMs,
      baselineKiB,
      peakKiB,
      growthKiB: peakKiB - baselineKiB,
      heapUsedGrowthMiB: (max.heapUsed - base.heapUsed) / MiB,
      arrayBuffersGrowthMiB: (max.arrayBuffers - base.arrayBuffers) / MiB,
      bytesSent: report.bytesSent,
      partSize: store.partSize,
      concurrency: store.concurrency,
      encrypted: store.encryptionKeyId !== null,
    };
  } finally {
    clearInterval(timer);
  }
}

module.exports = { root, MiB, requireDist, sleep, median, spread, poll, machine, Workload, dirBytes, timed, vmHwmKiB, resetHwm, measuredUpload, deletePrefix, writeResult, log };
