// @ts-check
'use strict';
// The lab's "converge" task (scenario.js, bench/lab-converge.sh): the final dump's frozen time
// before and after catch-up rounds, side by side on one running workload, against a full dump.
//
// Per size, dirty rate and repetition, on one workload:
//   full     a full dump that leaves the process running (frozen for all of its memory);
//   before   pre-dump, pre-dump, then the pause a checkpoint spends uploading those layers, then
//            the final dump (what ferry did before catch-up rounds);
//   after    the same, then catch-up pre-dumps as ferry's own rules decide them
//            (dist/workflows/convergence-policy.js, the code the checkpoint workflow runs, with the
//            rates measured on these layers), and the final dump straight after the last.
// The variants alternate which goes first. Every final dump leaves the process running; each chain
// starts with a full pre-dump, so one chain's soft-dirty bits do not affect the other.
//
// The pause stands for the upload: `uploadMiBps` (default 170, ferry's measured upload rate to
// MinIO on loopback on the lab's host, BENCHMARKS.md growth table) over the pre-dumps' bytes,
// at least 1 s. Through the guest's own network it would be 40 times longer.
//
// Task: {"kind":"converge", "sizesMiB":[...], "dirtyPermille":[...], "intervalMs", "repeats",
//        "uploadMiBps", "thp", "policy": {overrides of the convergence policy}}
const fs = require('node:fs');
const path = require('node:path');

/**
 * What scenario.js lends this task.
 * @typedef {object} Helpers
 * @property {(msg: string) => void} log
 * @property {(mode?: string) => string} setThp
 * @property {(w: { mib: number, dirtyPermille: number, intervalMs: number }) => { pid: number }} startWorkload
 * @property {(pid: number) => { ok: boolean, bad: number }} verify
 * @property {(pid: number) => void} stopWorkload
 * @property {(ms: number) => void} sleepMs
 * @property {(kind: 'dump' | 'pre-dump', req: { pid: number, imagesDir: string, prevImagesDir?: string, leaveRunning?: boolean }) => Promise<{ stats: any, wallMs: number }>} step
 * @property {new (message: string, detail?: unknown) => Error} TaskError
 * @property {string} repoDir
 */

const PAGE = 4096;
const MIB = 1024 * 1024;

/** @param {string} dir */
function dirBytes(dir) {
  return fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

/** @param {any} task @param {Helpers} h */
async function convergeTask(task, h) {
  const policyLib = require(path.join(h.repoDir, 'dist', 'workflows', 'convergence-policy'));
  const model = require(path.join(h.repoDir, 'dist', 'workflows', 'downtime-model'));
  const { readDumpableBytes } = require(path.join(h.repoDir, 'dist', 'criu', 'process'));
  const policy = { ...policyLib.DEFAULT_POLICY, ...(task.policy ?? {}) };
  const thp = h.setThp(task.thp ?? 'madvise');
  const root = '/tmp/converge';
  const runs = [];

  /**
   * One chain: two pre-dumps, the upload pause, catch-ups if asked, the final dump.
   * @param {number} pid @param {string} dir @param {boolean} catchUp
   */
  async function chain(pid, dir, catchUp) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    /** @type {Array<{ name: string, stats: any, startedAtMs: number, durationMs: number, bytes: number }>} */
    const layers = [];
    /** @param {'dump' | 'pre-dump'} kind @param {boolean} [leaveRunning] */
    const take = async (kind, leaveRunning) => {
      const name = `${kind === 'dump' ? 'final' : 'layer'}-${layers.length}`;
      const prev = layers[layers.length - 1];
      const startedAtMs = Date.now();
      const r = await h.step(kind, { pid, imagesDir: `${dir}/${name}`, ...(prev ? { prevImagesDir: `${dir}/${prev.name}` } : {}), ...(leaveRunning ? { leaveRunning } : {}) });
      const layer = { name, stats: r.stats, startedAtMs, durationMs: Date.now() - startedAtMs, bytes: dirBytes(`${dir}/${name}`) };
      layers.push(layer);
      return layer;
    };
    await take('pre-dump');
    await take('pre-dump');
    const pauseMs = Math.max(1000, Math.round(((layers[0].bytes + layers[1].bytes) / MIB / (task.uploadMiBps ?? 170)) * 1000));
    h.sleepMs(pauseMs);
    const decisions = [];
    if (catchUp) {
      const measured = () => ({
        pageSize: PAGE,
        layers: layers.map((l) => ({ pagesWritten: l.stats.pagesWritten, memdumpTimeUs: l.stats.memdumpTimeUs, frozenTimeUs: l.stats.frozenTimeUs, startedAtMs: l.startedAtMs, durationMs: l.durationMs })),
        uploads: [],
        prefetches: [],
        host: { dumpBytesPerMs: null, uploadBytesPerMs: null },
        residentBytes: readDumpableBytes(pid),
      });
      const shape = () => ({ pageSize: PAGE, moving: false, residentBytes: readDumpableBytes(pid), dumpNowRequested: false });
      const last = layers[layers.length - 1];
      let d = policyLib.decideCatchUpEntry(policy, model.ratesOf(measured()), { ...shape(), lastLayer: 1, sinceLastLayerMs: Date.now() - last.startedAtMs });
      decisions.push(d);
      /** @type {Array<{ layer: number, pagesWritten: number, bytes: number, durationMs: number }>} */
      const rounds = [];
      while (d.next !== 'final-dump') {
        const l = await take('pre-dump');
        rounds.push({ layer: layers.length - 1, pagesWritten: l.stats.pagesWritten, bytes: l.bytes, durationMs: l.durationMs });
        d = policyLib.decideAfterCatchUp(policy, model.ratesOf(measured()), { ...shape(), rounds });
        decisions.push(d);
      }
    }
    const lastBefore = layers[layers.length - 1];
    const final = await take('dump', true);
    const gapMs = final.startedAtMs - (lastBefore.startedAtMs + lastBefore.durationMs);
    fs.rmSync(dir, { recursive: true, force: true });
    return {
      pauseMs,
      layers: layers.map((l) => ({ name: l.name, pagesWritten: l.stats.pagesWritten, frozenUs: l.stats.frozenTimeUs, durationMs: l.durationMs, bytes: l.bytes })),
      catchUps: layers.length - 3,
      final: final.stats,
      lastLayerToFinalMs: gapMs,
      stopReason: decisions.length ? decisions[decisions.length - 1].reason : null,
      decisions: decisions.map((x) => ({ next: x.next, reason: x.reason, detail: x.detail, prediction: x.prediction })),
    };
  }

  for (const mib of task.sizesMiB) {
    for (const permille of task.dirtyPermille) {
      for (let rep = 0; rep < task.repeats; rep++) {
        fs.rmSync(root, { recursive: true, force: true });
        const { pid } = h.startWorkload({ mib, dirtyPermille: permille, intervalMs: task.intervalMs });
        try {
          h.sleepMs(1000);
          const full = await h.step('dump', { pid, imagesDir: `${root}/full`, leaveRunning: true });
          fs.rmSync(`${root}/full`, { recursive: true, force: true });
          // Alternate which variant goes first, so neither always meets a workload that ran longer.
          const order = rep % 2 ? ['after', 'before'] : ['before', 'after'];
          /** @type {Record<string, any>} */
          const variants = {};
          for (const v of order) variants[v] = await chain(pid, `${root}/${v}`, v === 'after');
          const checked = h.verify(pid);
          if (!checked.ok) throw new h.TaskError(`pid ${pid} failed its page check after the dumps`, checked);
          const row = { mib, dirtyPermille: permille, intervalMs: task.intervalMs, thp, rep, order, full: full.stats, before: variants.before, after: variants.after };
          runs.push(row);
          h.log(
            `converge ${mib} MiB ${permille}/1000: full ${full.stats.frozenTimeUs} us, before ${row.before.final.frozenTimeUs} us, ` +
              `after ${row.after.final.frozenTimeUs} us (${row.after.catchUps} catch-up(s), ${row.after.stopReason})`,
          );
        } finally {
          h.stopWorkload(pid);
        }
      }
    }
  }
  fs.rmSync(root, { recursive: true, force: true });
  return { thp, policy, runs };
}

module.exports = { convergeTask };
