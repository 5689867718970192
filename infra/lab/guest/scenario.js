// @ts-check
'use strict';
// Runs inside the lab guest (started by init.sh): reads <lab>/job.json, runs its tasks with
// ferry's own CLI from the read-only checkout, and writes <lab>/out/result.json.
//
//   node scenario.js LAB_DIR REPO_DIR
//
// Tasks (job.json: {"tasks": [{"kind": ..., ...}, ...]}, run in order, stopping at the first
// failure):
//   check    criu check and the soft-dirty feature check, straight from CRIU.
//   chain    the tutorial on the workload fixture: ferry pre-dump, pre-dump --prev-images-dir,
//            dump --prev-images-dir, restore, then the workload verifies every page. The chain
//            (as it was before the restore touched it) is copied to out/chain/.
//   restore  a chain brought in from the host: a wrong-parent chain must be refused by ferry
//            (and, with proveStale, restoring it with CRIU directly shows stale pages), then the
//            good chain is restored with ferry and verified page by page.
//   bench    frozen time of a full dump vs the final dump after two pre-dumps, per size and
//            dirty rate, repeated; raw numbers go to result.json, medians are made on the host.
//   migrate  `ferry migrate` between two hosts of this guest through the host's Temporal and
//            MinIO (see migrate-task.js).
// This file is plain JS on purpose: it runs from the checkout as is, with no build step. Its
// JSDoc types are checked on the host (tsconfig.js.json); job.json's tasks are typed `any`, their
// fields are the ones listed above.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const [labDir, repoDir] = process.argv.slice(2);
const outDir = path.join(labDir, 'out');
const criu = process.env.FERRY_CRIU || 'criu';
// ferry's CLI: bin/ferry.js itself; with "cliShim": true in the job, ferry-lab.js (see there why).
let ferryArgv = [path.join(repoDir, 'bin', 'ferry.js')];
// The host puts the static workload (test/fixtures/workload) into the share, the same file for
// every boot: CRIU restores a process's executable from the same path with the same size, so
// the binary is copied to the same place in every boot, and a rebuild in the checkout between
// two boots cannot break a restore.
const workloadSource = path.join(labDir, 'workload');
const workloadBin = '/tmp/wl/workload';
const pidFile = '/tmp/wl/workload.pid';
const resultFile = '/tmp/wl/verify.json';

/** @typedef {{ mib: number, dirtyPermille: number, intervalMs: number }} Workload */
/** @typedef {{ pid: number, ok: boolean, bad: number, pages: number }} VerifyReport  what the workload writes after a page check */

/** @param {string} msg */
function log(msg) {
  process.stdout.write(`LAB: ${msg}\n`);
}

class TaskError extends Error {
  /** @param {string} message @param {unknown} [detail] what the host needs to see why */
  constructor(message, detail) {
    super(message);
    this.name = 'TaskError';
    this.detail = detail;
  }
}

/** @param {number} ms */
function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * @param {string} cmd
 * @param {string[]} args
 * @param {Omit<import('node:child_process').SpawnSyncOptions, 'encoding'>} [opts]
 */
function run(cmd, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  const ms = Math.round(Number(process.hrtime.bigint() - t0) / 1e6);
  return { exit: r.status, signal: r.signal, stdout: r.stdout || '', stderr: r.stderr || '', ms, error: r.error ? r.error.message : undefined };
}

/**
 * Runs `ferry <args> --json`; returns the parsed document plus the command's wall time.
 * @param {string[]} args
 * @param {Omit<import('node:child_process').SpawnSyncOptions, 'encoding'>} [opts]
 * @returns {{ doc: any, wallMs: number }}
 */
function ferry(args, opts = {}) {
  const r = run(process.execPath, [...ferryArgv, ...args, '--json'], opts);
  if (r.exit !== 0) {
    throw new TaskError(`ferry ${args.join(' ')} exited ${r.exit}${r.signal ? ` (${r.signal})` : ''}`, { stderr: r.stderr.slice(-4000), stdout: r.stdout.slice(-2000) });
  }
  let doc;
  try {
    doc = JSON.parse(r.stdout);
  } catch (err) {
    throw new TaskError(`ferry ${args.join(' ')} printed no JSON: ${/** @type {SyntaxError} */ (err).message}`, { stdout: r.stdout.slice(-2000) });
  }
  return { doc, wallMs: r.ms };
}

/** @param {number} pid */
function pidAlive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie no longer runs; it only waits for init to reap it.
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

/**
 * @template T
 * @param {string} what
 * @param {number} deadlineMs
 * @param {() => T | null | undefined | false | 0} fn polled until it returns something truthy
 * @returns {T}
 */
function waitUntil(what, deadlineMs, fn) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = fn();
    if (v) return /** @type {T} */ (v);
    if (Date.now() > end) throw new TaskError(`timed out after ${deadlineMs} ms waiting for ${what}`);
    sleepMs(50);
  }
}

function ensureWorkloadBinary() {
  if (!fs.existsSync(workloadSource)) {
    throw new TaskError(`${workloadSource} is missing: copy build/workload-static (test/fixtures/workload/build.sh --static) into the share`);
  }
  fs.mkdirSync(path.dirname(workloadBin), { recursive: true });
  fs.copyFileSync(workloadSource, workloadBin);
  fs.chmodSync(workloadBin, 0o755);
}

const THP_CONTROL = '/sys/kernel/mm/transparent_hugepage/enabled';

/**
 * Transparent huge pages change what pre-dumps can skip: a huge page carries one soft-dirty bit
 * for all of its 2 MiB, so one write re-sends 512 pages. Debian's kernel defaults to "always";
 * tasks choose ("always", "madvise", "never") and record what was in force.
 */
/** @param {string} [mode] */
function setThp(mode) {
  if (mode) fs.writeFileSync(THP_CONTROL, mode);
  const m = /\[(\w+)\]/.exec(fs.readFileSync(THP_CONTROL, 'utf8'));
  return m ? m[1] : 'unknown';
}

/** @param {Workload} w */
function startWorkload(w) {
  ensureWorkloadBinary();
  fs.rmSync(pidFile, { force: true });
  fs.rmSync(resultFile, { force: true });
  const args = ['--pidfile', pidFile, '--result', resultFile, '--mib', String(w.mib), '--dirty-permille', String(w.dirtyPermille), '--interval-ms', String(w.intervalMs)];
  // The workload fills its memory, then daemonizes: the call returns once it runs detached.
  const r = run(workloadBin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.exit !== 0) throw new TaskError(`workload exited ${r.exit}`, { stderr: r.stderr });
  const pid = waitUntil('the workload pidfile', 30000, () => {
    try {
      return Number(fs.readFileSync(pidFile, 'utf8').trim()) || null;
    } catch {
      return null;
    }
  });
  return { pid, startMs: r.ms };
}

/** @returns {VerifyReport | null} */
function readVerify() {
  try {
    return JSON.parse(fs.readFileSync(resultFile, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Asks the workload to check every page (SIGUSR1) and waits for its report. The old report goes
 * first: a process restored from an older state counts its checks from that state.
 */
/** @param {number} pid */
function verify(pid) {
  fs.rmSync(resultFile, { force: true });
  process.kill(pid, 'SIGUSR1');
  return waitUntil(`pid ${pid} to report its page check`, 120000, () => {
    const v = readVerify();
    return v && v.pid === pid ? v : null;
  });
}

/** @param {number} pid */
function stopWorkload(pid) {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  waitUntil(`pid ${pid} to exit`, 30000, () => !pidAlive(pid));
}

/** @param {string} from @param {string} to */
function copyTree(from, to) {
  fs.rmSync(to, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(to), { recursive: true });
  const r = run('cp', ['-a', from, to]);
  if (r.exit !== 0) throw new TaskError(`cp -a ${from} ${to} failed`, { stderr: r.stderr });
}

function checkTask() {
  const version = run(criu, ['--version']);
  const check = run(criu, ['check']);
  const memTrack = run(criu, ['check', '--feature', 'mem_dirty_track']);
  /** @type {{ kernel: string, criuVersion: string, check: object, memDirtyTrack: object, ferryCheck?: unknown, ferryCheckMs?: number }} */
  const out = {
    kernel: fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    criuVersion: version.stdout.trim().split('\n')[0],
    check: { exit: check.exit, ms: check.ms, output: (check.stdout + check.stderr).trim().slice(-2000) },
    memDirtyTrack: { exit: memTrack.exit, ms: memTrack.ms, output: (memTrack.stdout + memTrack.stderr).trim().slice(-2000) },
  };
  log(`criu check exit ${check.exit} (${check.ms} ms); mem_dirty_track exit ${memTrack.exit}`);
  if (check.exit !== 0 || memTrack.exit !== 0) throw new TaskError('criu check failed in the guest', out);
  const ferryCheck = ferry(['check']);
  out.ferryCheck = ferryCheck.doc;
  out.ferryCheckMs = ferryCheck.wallMs;
  if (!ferryCheck.doc.features || ferryCheck.doc.features.memTrack !== true) {
    throw new TaskError('ferry check does not report memory tracking in the guest', ferryCheck.doc);
  }
  return out;
}

/** @param {{ doc: any, wallMs: number }} step */
function summarize(step) {
  return { ...step.doc, wallMs: step.wallMs };
}

/**
 * Keeps a failed task's images and CRIU logs for the host to look at.
 * @param {string} dir
 * @param {string} name
 */
function keepForDiagnosis(dir, name) {
  try {
    if (fs.existsSync(dir)) copyTree(dir, path.join(outDir, name));
  } catch {
    // diagnosis only
  }
}

/** @param {any} task */
function chainTask(task) {
  try {
    return runChain(task);
  } catch (err) {
    keepForDiagnosis('/tmp/chain', 'failed-chain');
    throw err;
  }
}

/** @param {any} task */
function runChain(task) {
  const w = task.workload;
  const thp = setThp(task.thp);
  const root = '/tmp/chain';
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const started = startWorkload(w);
  const pid = started.pid;
  log(`workload pid ${pid}: ${w.mib} MiB, ${w.dirtyPermille}/1000 of pages every ${w.intervalMs} ms, THP ${thp}`);
  const verifyBefore = verify(pid);
  if (!verifyBefore.ok) throw new TaskError('the workload failed its own check before any dump', verifyBefore);
  const gap = task.gapMs;
  sleepMs(gap);
  const pre1 = ferry(['pre-dump', '--pid', String(pid), '--images-dir', `${root}/pre1`]);
  log(`pre-dump 1: frozen ${pre1.doc.stats.frozenTimeUs} us, ${pre1.doc.stats.pagesWritten} pages written (${pre1.wallMs} ms)`);
  sleepMs(gap);
  const pre2 = ferry(['pre-dump', '--pid', String(pid), '--images-dir', `${root}/pre2`, '--prev-images-dir', `${root}/pre1`]);
  log(`pre-dump 2: frozen ${pre2.doc.stats.frozenTimeUs} us, ${pre2.doc.stats.pagesWritten} written, ${pre2.doc.stats.pagesSkippedParent} in parent`);
  sleepMs(gap);
  const final = ferry(['dump', '--pid', String(pid), '--images-dir', `${root}/final`, '--prev-images-dir', `${root}/pre2`]);
  log(`final dump: frozen ${final.doc.stats.frozenTimeUs} us, ${final.doc.stats.pagesWritten} written, ${final.doc.stats.pagesSkippedParent} in parent`);
  const dumpedAt = Date.now();
  // Gone from /proc entirely, i.e. reaped by init too: only then is the pid free for restore.
  waitUntil(`dumped pid ${pid} to be reaped`, 15000, () => !fs.existsSync(`/proc/${pid}`));
  const reapMs = Date.now() - dumpedAt;
  // The host gets the chain exactly as dumped: restore adds its log and stats to the final dir.
  copyTree(root, path.join(outDir, 'chain'));
  const restored = ferry(['restore', '--images-dir', `${root}/final`]);
  log(`restore: pid ${restored.doc.pid} (${restored.wallMs} ms, restore time ${restored.doc.restoreTimeUs} us)`);
  if (restored.doc.pid !== pid) throw new TaskError(`restored pid ${restored.doc.pid}, expected ${pid}`, restored.doc);
  const verifyAfter = verify(pid);
  log(`verify after restore: ${JSON.stringify(verifyAfter)}`);
  stopWorkload(pid);
  if (!verifyAfter.ok) throw new TaskError(`restored memory is wrong: ${verifyAfter.bad} bad pages`, verifyAfter);
  return {
    pid,
    workload: w,
    workloadStartMs: started.startMs,
    thp,
    reapMs,
    preDump1: summarize(pre1),
    preDump2: summarize(pre2),
    finalDump: summarize(final),
    restore: summarize(restored),
    verifyBefore,
    verifyAfter,
  };
}

/**
 * In a fresh boot the pid counter is still low: a thread of the next Node process could land on
 * the pid the chain must be restored into. Move the counter past it first.
 * @param {number} pid
 */
function reservePid(pid) {
  const last = Number(fs.readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
  if (last < pid + 64) fs.writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid + 64));
  if (pidAlive(pid)) throw new TaskError(`pid ${pid}, which the chain restores into, is taken in this boot`);
}

/**
 * @typedef {object} RestoreOutcome
 * @property {number} pid
 * @property {{ exit: number | null, stderr: string, stdout: string, pidRunningAfter: boolean }} [wrongChain]
 * @property {{ exit: number | null, stderr: string, verify?: VerifyReport }} [directCriuRestore]
 * @property {object} [restore]
 * @property {VerifyReport} [verify]
 */

/** @param {any} task */
function restoreTask(task) {
  /** @type {RestoreOutcome} */
  const out = { pid: task.pid };
  try {
    return runRestore(task, out);
  } catch (err) {
    keepForDiagnosis('/tmp/in', 'failed-restore');
    if (err instanceof TaskError) err.detail = { ...out, failure: err.detail };
    throw err;
  }
}

/** @param {any} task @param {RestoreOutcome} out */
function runRestore(task, out) {
  reservePid(task.pid);
  ensureWorkloadBinary();
  const good = path.join('/tmp/in', 'good');
  copyTree(path.join(labDir, task.goodChain), good);
  const goodFinal = path.join(good, task.goodFinal);
  if (task.wrongChain) {
    const wrong = path.join('/tmp/in', 'wrong');
    copyTree(path.join(labDir, task.wrongChain), wrong);
    const wrongFinal = path.join(wrong, task.wrongFinal);
    const r = run(process.execPath, [...ferryArgv, 'restore', '--images-dir', wrongFinal, '--json']);
    out.wrongChain = { exit: r.exit, stderr: r.stderr.slice(-4000), stdout: r.stdout.slice(-1000), pidRunningAfter: pidAlive(task.pid) };
    log(`ferry restore of the wrong-parent chain: exit ${r.exit}`);
    if (r.exit === 0 || out.wrongChain.pidRunningAfter) {
      if (pidAlive(task.pid)) stopWorkload(task.pid);
      throw new TaskError('ferry restored a chain whose final dump points at the wrong parent', out.wrongChain);
    }
    if (task.proveStale) {
      // Without ferry's check, CRIU restores it happily: count what comes back wrong.
      const c = run(criu, ['restore', '--images-dir', wrongFinal, '--restore-detached', '--log-file', 'restore-direct.log', '-v2']);
      out.directCriuRestore = { exit: c.exit, stderr: c.stderr.slice(-2000) };
      log(`CRIU restore of the wrong chain, bypassing ferry: exit ${c.exit}`);
      if (c.exit === 0) {
        out.directCriuRestore.verify = verify(task.pid);
        log(`CRIU restore of the wrong chain, bypassing ferry: ${JSON.stringify(out.directCriuRestore.verify)}`);
        stopWorkload(task.pid);
      }
    }
  }
  const restored = ferry(['restore', '--images-dir', goodFinal]);
  log(`restore of the pulled chain: pid ${restored.doc.pid} (${restored.wallMs} ms)`);
  out.restore = summarize(restored);
  if (restored.doc.pid !== task.pid) throw new TaskError(`restored pid ${restored.doc.pid}, expected ${task.pid}`, restored.doc);
  out.verify = verify(task.pid);
  log(`verify after restore: ${JSON.stringify(out.verify)}`);
  stopWorkload(task.pid);
  if (!out.verify.ok) throw new TaskError(`restored memory is wrong: ${out.verify.bad} bad pages`, out);
  return out;
}

/**
 * One dump step for the bench. "cli" runs `ferry` as a user would (a new Node process per step);
 * "library" calls ferry's CRIU driver (dist/criu) in this process, so the time between layers
 * is not stretched by Node starting under TCG (5-15 s per call here, ~0.3 s on hardware).
 * @param {'cli' | 'library'} driver
 * @param {'dump' | 'pre-dump'} kind
 * @param {{ pid: number, imagesDir: string, prevImagesDir?: string, leaveRunning?: boolean }} req
 */
async function benchStep(driver, kind, req) {
  if (driver === 'cli') {
    const args = [kind, '--pid', String(req.pid), '--images-dir', req.imagesDir];
    if (req.prevImagesDir) args.push('--prev-images-dir', req.prevImagesDir);
    if (req.leaveRunning) args.push('--leave-running');
    const r = ferry(args);
    return { stats: r.doc.stats, wallMs: r.wallMs };
  }
  const lib = require(path.join(repoDir, 'dist', 'criu', 'index'));
  const t0 = Date.now();
  const r = kind === 'pre-dump' ? await lib.preDump(req, { criuBinary: criu }) : await lib.dump(req, { criuBinary: criu });
  return { stats: r.stats, wallMs: Date.now() - t0 };
}

/** @param {any} task */
async function benchTask(task) {
  const thp = setThp(task.thp);
  const driver = task.driver || 'cli';
  const runs = [];
  const root = '/tmp/bench';
  for (const mib of task.sizesMiB) {
    for (const permille of task.dirtyPermille) {
      for (let rep = 0; rep < task.repeats; rep++) {
        fs.rmSync(root, { recursive: true, force: true });
        fs.mkdirSync(root, { recursive: true });
        const w = { mib, dirtyPermille: permille, intervalMs: task.intervalMs };
        const { pid } = startWorkload(w);
        const t0 = Date.now();
        const at = () => Date.now() - t0;
        sleepMs(task.gapMs);
        // A full dump that leaves the task running does not touch the soft-dirty bits.
        const full = await benchStep(driver, 'dump', { pid, imagesDir: `${root}/full`, leaveRunning: true });
        fs.rmSync(`${root}/full`, { recursive: true, force: true });
        sleepMs(task.gapMs);
        const pre1Start = at();
        const pre1 = await benchStep(driver, 'pre-dump', { pid, imagesDir: `${root}/pre1` });
        sleepMs(task.gapMs);
        const pre2Start = at();
        const pre2 = await benchStep(driver, 'pre-dump', { pid, imagesDir: `${root}/pre2`, prevImagesDir: `${root}/pre1` });
        sleepMs(task.gapMs);
        const finalStart = at();
        const final = await benchStep(driver, 'dump', { pid, imagesDir: `${root}/final`, prevImagesDir: `${root}/pre2` });
        waitUntil(`dumped pid ${pid} to be reaped`, 15000, () => !fs.existsSync(`/proc/${pid}`));
        const row = {
          mib,
          dirtyPermille: permille,
          intervalMs: task.intervalMs,
          thp,
          driver,
          rep,
          // Milliseconds from the workload's start to the start of each step: the time the
          // workload had to dirty pages between layers.
          startedAtMs: { preDump1: pre1Start, preDump2: pre2Start, final: finalStart },
          full: full.stats,
          preDump1: pre1.stats,
          preDump2: pre2.stats,
          final: final.stats,
          stepWallMs: { full: full.wallMs, preDump1: pre1.wallMs, preDump2: pre2.wallMs, final: final.wallMs },
        };
        runs.push(row);
        log(`bench ${driver} ${mib} MiB ${permille}/1000 THP ${thp}: full frozen ${row.full.frozenTimeUs} us, final frozen ${row.final.frozenTimeUs} us (${row.final.pagesWritten} pages written)`);
      }
    }
  }
  fs.rmSync(root, { recursive: true, force: true });
  return { gapMs: task.gapMs, thp, driver, runs };
}

/**
 * Diagnostics: runs each command of task.commands ([cmd, ...args]) and records output and time.
 * @param {{ commands: string[][] }} task
 */
function execTask(task) {
  return task.commands.map(([cmd, ...args]) => {
    const r = run(cmd === 'node' ? process.execPath : cmd, args);
    log(`exec ${cmd} ${args.join(' ')}: exit ${r.exit} in ${r.ms} ms`);
    return { cmd: [cmd, ...args], exit: r.exit, ms: r.ms, stdout: r.stdout.slice(-4000), stderr: r.stderr.slice(-4000) };
  });
}

/** @param {any} task */
function migrateTask(task) {
  const helpers = { log, ferry, setThp, startWorkload, verify, stopWorkload, waitUntil, sleepMs, pidAlive, TaskError, outDir, repoDir };
  return require('./migrate-task').migrateTask(task, helpers);
}

/** @param {any} task */
function convergeTask(task) {
  /** @type {(kind: 'dump' | 'pre-dump', req: any) => Promise<{ stats: any, wallMs: number }>} */
  const step = (kind, req) => benchStep('library', kind, req);
  const helpers = { log, setThp, startWorkload, verify, stopWorkload, sleepMs, step, TaskError, repoDir };
  return require('./converge-task').convergeTask(task, helpers);
}

/** @type {Record<string, ((task: any) => unknown) | undefined>} */
const tasks = { check: checkTask, chain: chainTask, restore: restoreTask, bench: benchTask, exec: execTask, migrate: migrateTask, converge: convergeTask };

function uptimeS() {
  return Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

async function main() {
  const job = JSON.parse(fs.readFileSync(path.join(labDir, 'job.json'), 'utf8'));
  if (job.cliShim) ferryArgv = [path.join(__dirname, 'ferry-lab.js'), repoDir];
  /** @type {{ startedUptimeS: number, tasks: Array<{ kind: string, ok: boolean, ms: number, value?: unknown, error?: string, detail?: unknown }>, finishedUptimeS?: number }} */
  const result = { startedUptimeS: uptimeS(), tasks: [] };
  let failed = false;
  for (const task of job.tasks) {
    const fn = tasks[task.kind];
    const t0 = Date.now();
    try {
      if (!fn) throw new TaskError(`unknown task kind ${JSON.stringify(task.kind)}`);
      log(`task ${task.kind} started`);
      const value = await fn(task);
      result.tasks.push({ kind: task.kind, ok: true, ms: Date.now() - t0, value });
      log(`task ${task.kind} ok in ${Date.now() - t0} ms`);
    } catch (caught) {
      // A task may throw anything (a TaskError, a Node error, a value): read it defensively.
      const err = /** @type {{ stack?: string, message?: string, detail?: unknown } | null | undefined} */ (caught);
      failed = true;
      result.tasks.push({ kind: task.kind, ok: false, ms: Date.now() - t0, error: String(err && err.stack), detail: err && err.detail });
      log(`task ${task.kind} FAILED: ${err && err.message}`);
      if (err && err.detail) log(JSON.stringify(err.detail).slice(0, 4000));
      break;
    }
  }
  result.finishedUptimeS = uptimeS();
  fs.writeFileSync(path.join(outDir, 'result.json'), JSON.stringify(result, null, 2));
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    log(`scenario crashed: ${err && err.stack}`);
    process.exitCode = 70;
  },
);
