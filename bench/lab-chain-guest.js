// @ts-check
'use strict';
// Runs INSIDE the soft-dirty lab guest (started by bench/lab-chain.sh through the lab's `exec`
// task): how costs grow with the length of a chain of nightly pre-dump layers.
//
//   node /ferry/bench/lab-chain-guest.js LAB_DIR REPO_DIR LAYERS MIB PERMILLE INTERVAL_MS GAP_MS
//
// One workload; a full `dump --leave-running` first (the baseline); then LAYERS pre-dumps, each
// with the previous one as parent (a "nightly" layer every GAP_MS instead of every 24 h), then the
// final dump on top of the chain and a restore from it, memory verified page by page. Every step
// goes through ferry's CRIU driver (dist/criu) in this one Node process (Node starting per step
// takes 5-15 s under TCG). Raw numbers go to LAB_DIR/out/chain-raw.json.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const [labDir, repoDir, layersArg, mibArg, permilleArg, intervalArg, gapArg] = process.argv.slice(2);
const LAYERS = Number(layersArg || 30);
const w = { mib: Number(mibArg || 64), dirtyPermille: Number(permilleArg || 5), intervalMs: Number(intervalArg || 200) };
const GAP = Number(gapArg || 1000);
const criuBinary = process.env.FERRY_CRIU || 'criu';
/** @type {any} dist/criu of the checkout (not type-checked from here) */
const lib = require(path.join(repoDir, 'dist', 'criu', 'index'));
const wlDir = '/tmp/wlc';
const bin = path.join(wlDir, 'workload');
const pidFile = path.join(wlDir, 'pid');
const resultFile = path.join(wlDir, 'verify.json');
const root = '/tmp/chainbench';

/** @param {number} ms */
const sleepMs = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
/** @param {string} m */
const log = (m) => process.stdout.write(`CHAIN: ${m}\n`);

/**
 * @template T
 * @param {string} what
 * @param {number} ms
 * @param {() => T | null | undefined | false | 0} fn polled until it returns something truthy
 * @returns {T}
 */
function waitUntil(what, ms, fn) {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return /** @type {T} */ (v);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    sleepMs(50);
  }
}

/** @param {string} dir */
function dirBytes(dir) {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isFile()) n += fs.statSync(path.join(dir, e.name)).size;
  return n;
}

/** @param {number} pid @returns {{ pid: number, ok: boolean, bad: number }} */
function verify(pid) {
  fs.rmSync(resultFile, { force: true });
  process.kill(pid, 'SIGUSR1');
  return waitUntil(`pid ${pid} page check`, 120000, () => {
    try {
      const v = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
      return v.pid === pid ? v : null;
    } catch {
      return null;
    }
  });
}

/**
 * @param {'dump' | 'pre-dump'} kind
 * @param {{ pid: number, imagesDir: string, prevImagesDir?: string, leaveRunning?: boolean }} req
 * @returns {Promise<import('./results').ChainStep>}
 */
async function step(kind, req) {
  const t0 = Date.now();
  const r = kind === 'pre-dump' ? await lib.preDump(req, { criuBinary }) : await lib.dump(req, { criuBinary });
  return { kind, wallMs: Date.now() - t0, stats: r.stats, bytes: dirBytes(req.imagesDir) };
}

async function main() {
  // madvise: with THP "always" one write marks a whole 2 MiB page dirty (see bench/results/lab.md).
  fs.writeFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'madvise');
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  fs.mkdirSync(wlDir, { recursive: true });
  // The same static binary the lab's own tasks use (the host copies it into the share).
  fs.copyFileSync(path.join(labDir, 'workload'), bin);
  fs.chmodSync(bin, 0o755);
  const r = spawnSync(bin, ['--pidfile', pidFile, '--result', resultFile, '--mib', String(w.mib), '--dirty-permille', String(w.dirtyPermille), '--interval-ms', String(w.intervalMs)]);
  if (r.status !== 0) throw new Error(`workload exited ${r.status}: ${r.stderr}`);
  const pid = waitUntil('workload pidfile', 30000, () => Number((fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim()) || 0) || null);
  sleepMs(GAP);
  const full = await step('dump', { pid, imagesDir: `${root}/full`, leaveRunning: true });
  log(`full dump: frozen ${full.stats.frozenTimeUs} us, ${full.bytes} bytes`);
  fs.rmSync(`${root}/full`, { recursive: true, force: true });
  const layers = [];
  let prev;
  for (let i = 1; i <= LAYERS; i++) {
    sleepMs(GAP);
    const dir = `${root}/layer-${i}`;
    const s = await step('pre-dump', { pid, imagesDir: dir, ...(prev ? { prevImagesDir: prev } : {}) });
    layers.push({ n: i, ...s });
    log(`pre-dump ${i}: frozen ${s.stats.frozenTimeUs} us, ${s.stats.pagesWritten} written, ${s.stats.pagesSkippedParent} in parent, ${s.bytes} bytes, ${s.wallMs} ms`);
    prev = dir;
  }
  sleepMs(GAP);
  const final = await step('dump', { pid, imagesDir: `${root}/final`, prevImagesDir: prev });
  log(`final dump on ${LAYERS} layers: frozen ${final.stats.frozenTimeUs} us, ${final.stats.pagesWritten} written`);
  waitUntil(`dumped pid ${pid} to be reaped`, 15000, () => !fs.existsSync(`/proc/${pid}`));
  // ferry checks the whole chain before restoring; timed on its own to split the restore's wall time.
  const tc = Date.now();
  lib.assertRestorableChain(`${root}/final`);
  const chainCheckMs = Date.now() - tc;
  log(`chain check of ${LAYERS + 1} layers: ${chainCheckMs} ms`);
  const t0 = Date.now();
  const restored = await lib.restore({ imagesDir: `${root}/final` }, { criuBinary });
  const restoreWallMs = Date.now() - t0;
  const check = verify(restored.pid);
  log(`restore from ${LAYERS + 1} layers: ${restoreWallMs} ms (CRIU ${restored.restoreTimeUs} us), verify ok=${check.ok}`);
  try {
    process.kill(restored.pid, 'SIGKILL');
  } catch {
    // gone
  }
  const out = { workload: w, gapMs: GAP, layersRequested: LAYERS, full, layers, final: { ...final }, restore: { wallMs: restoreWallMs, chainCheckMs, restoreTimeUs: restored.restoreTimeUs, verify: check } };
  fs.mkdirSync(path.join(labDir, 'out'), { recursive: true });
  fs.writeFileSync(path.join(labDir, 'out', 'chain-raw.json'), `${JSON.stringify(out, null, 1)}\n`);
  fs.rmSync(root, { recursive: true, force: true });
  if (!check.ok) throw new Error(`restored memory is wrong: ${check.bad} bad pages`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
