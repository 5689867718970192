// @ts-check
'use strict';
// The lab's "migrate" task (scenario.js): `ferry migrate` between two hosts that both live in this
// guest, so the pre-dumps run for real on a soft-dirty kernel while Temporal and MinIO are the
// host's (reached through the forwarded ports, boot-guest.sh FERRY_LAB_HOST_PORTS). The workflow
// code runs on the host (`ferry worker --no-activities`); here run only the two hosts' activities
// (`ferry worker --host X --no-workflows`): bundling workflow code under TCG would take minutes.
//
// Task: {"kind":"migrate", "hosts":["lab-a","lab-b"], "env":{FERRY_* and AWS_* settings},
//        "workload":{"mib","dirtyPermille","intervalMs"}, "repeats", "preDumps", "settleMs",
//        "workerReadyMs", "checkpointPrefix", "thp"}
// "preDumps" is a number or a list (e.g. [3, 0]): each repeat runs one migration per value, in
// turn, so "with pre-dumps" and "without" are measured side by side on the same process. A value
// may also be {"preDumps": 3, "catchUps": 0}: pre-dumps without catch-up rounds (ferry before them).
// "runs" (optional) are single runs after those, each on a workload of its own started for it:
// {"name", "command": "migrate" | "checkpoint", "workload": {...}, "args": [extra ferry flags]}; a
// checkpoint runs with --leave-running and its workload is verified in place. They let one boot
// (the workers' start under TCG is the slow part) serve several cases of the convergence rules.
// THP defaults to "madvise" as in the other lab tasks: with "always", one write dirties a whole
// 2 MiB huge page, and scattered writes leave pre-dumps nothing to skip.
// Each run migrates the workload to the other host and verifies its memory page by page.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

/**
 * @typedef {object} MigrateTask
 * @property {string[]} hosts
 * @property {Record<string, string>} env
 * @property {{ mib: number, dirtyPermille: number, intervalMs: number }} workload
 * @property {number} repeats
 * @property {Variant | Variant[]} [preDumps]
 * @property {number} [settleMs]
 * @property {number} [workerReadyMs]
 * @property {string} checkpointPrefix
 * @property {string} [thp]
 * @property {ExtraRun[]} [runs]
 */

/** @typedef {number | { preDumps: number, catchUps?: number, direct?: boolean }} Variant */

/**
 * @typedef {object} ExtraRun
 * @property {string} name
 * @property {'migrate' | 'checkpoint'} command
 * @property {{ mib: number, dirtyPermille: number, intervalMs: number }} workload
 * @property {string[]} [args]
 */

/**
 * What scenario.js lends this task.
 * @typedef {object} Helpers
 * @property {(msg: string) => void} log
 * @property {(args: string[], opts?: { env?: NodeJS.ProcessEnv }) => { doc: any, wallMs: number }} ferry
 * @property {(mode?: string) => string} setThp
 * @property {(w: MigrateTask['workload']) => { pid: number }} startWorkload
 * @property {(pid: number) => { ok: boolean }} verify
 * @property {(pid: number) => void} stopWorkload
 * @property {<T>(what: string, deadlineMs: number, fn: () => T | null | undefined | false | 0) => T} waitUntil
 * @property {(ms: number) => void} sleepMs
 * @property {(pid: number) => boolean} pidAlive
 * @property {new (message: string, detail?: unknown) => Error} TaskError
 * @property {string} outDir
 * @property {string} repoDir
 */

/** @typedef {{ host: string, pid: number, logFile: string }} Worker */

/** @param {MigrateTask} task @param {Helpers} h */
function migrateTask(task, h) {
  const env = { ...process.env, ...task.env, FERRY_STAGING_DIR: '/tmp/ferry-staging', FERRY_HOST_POLICY: writeLabPolicy(h) };
  const workers = task.hosts.map((host) => startWorker(host, env, h));
  let pid = null;
  try {
    for (const w of workers) {
      h.waitUntil(`worker ${w.host} to be ready (log: ${w.logFile})`, task.workerReadyMs ?? 900000, () => {
        if (!h.pidAlive(w.pid)) throw new h.TaskError(`worker ${w.host} exited at start`, { log: readTail(w.logFile) });
        return readTail(w.logFile).includes('ready:');
      });
      h.log(`worker ${w.host} ready`);
    }
    const thp = h.setThp(task.thp ?? 'madvise');
    pid = h.startWorkload(task.workload).pid;
    h.sleepMs(task.settleMs ?? 2000);
    const variants = /** @type {Variant[]} */ ([]).concat(task.preDumps ?? 3).map((v) => (typeof v === 'number' ? { preDumps: v } : v));
    /** @type {Array<{ preDumps: number, catchUps: number | null, direct: boolean, from: string, to: string, wallMs: number, result: any, verify: { ok: boolean } }>} */
    const runs = [];
    for (let i = 0; i < task.repeats; i++) {
      for (const { preDumps, catchUps, direct } of variants) {
        const n = runs.length;
        const [from, to] = n % 2 ? [task.hosts[1], task.hosts[0]] : [task.hosts[0], task.hosts[1]];
        const args = ['migrate', '--pid', String(pid), '--from', from, '--to', to, '--no-warm', '--pre-dumps', String(preDumps)];
        if (catchUps !== undefined) args.push('--catch-ups', String(catchUps));
        if (direct === false) args.push('--no-direct');
        args.push('--checkpoint-id', `${task.checkpointPrefix}-${n}`, '--wait');
        const step = h.ferry(args, { env });
        const res = step.doc;
        h.log(`migrate ${n + 1} (repeat ${i + 1}, --pre-dumps ${preDumps}${catchUps !== undefined ? ` --catch-ups ${catchUps}` : ''}${direct === false ? ' --no-direct' : ''}) ${from}->${to}: downtime ${res.downtime.totalMs} ms (${res.path ?? 'store'}), stop ${res.checkpoint.preDumps.stopReason}`);
        const checked = h.verify(res.newPid);
        if (!checked.ok) throw new h.TaskError(`pid ${res.newPid} failed its page check after migration ${n + 1}`, checked);
        runs.push({ preDumps, catchUps: catchUps ?? null, direct: direct !== false, from, to, wallMs: step.wallMs, result: res, verify: checked });
        pid = res.newPid;
      }
    }
    h.stopWorkload(pid);
    pid = null;
    const extraRuns = [];
    for (const [n, run] of (task.runs ?? []).entries()) {
      pid = h.startWorkload(run.workload).pid;
      h.sleepMs(task.settleMs ?? 2000);
      const extra = runOne(task, run, pid, `${task.checkpointPrefix}-x${n}`, env, h);
      extraRuns.push(extra);
      h.stopWorkload(extra.pid);
      pid = null;
    }
    return { thp, runs, extraRuns };
  } finally {
    if (pid !== null) h.stopWorkload(pid);
    for (const w of workers) stopWorker(w, h);
  }
}

/**
 * One extra run on its own workload; returns its result with the pid the workload now has.
 * @param {MigrateTask} task @param {ExtraRun} run @param {number} pid @param {string} checkpointId
 * @param {NodeJS.ProcessEnv} env @param {Helpers} h
 */
function runOne(task, run, pid, checkpointId, env, h) {
  const [from, to] = task.hosts;
  const args =
    run.command === 'migrate'
      ? ['migrate', '--pid', String(pid), '--from', from, '--to', to, '--no-warm']
      : ['checkpoint', '--pid', String(pid), '--host', from, '--leave-running'];
  args.push(...(run.args ?? []), '--checkpoint-id', checkpointId, '--wait');
  const step = h.ferry(args, { env });
  const res = step.doc;
  const after = run.command === 'migrate' ? res.newPid : pid;
  const preDumps = run.command === 'migrate' ? res.checkpoint.preDumps : res.preDumps;
  h.log(`${run.name}: ${run.command}, ${preDumps.count} pre-dump(s) + ${preDumps.catchUps ?? 0} catch-up(s), stop ${preDumps.stopReason}`);
  const checked = h.verify(after);
  if (!checked.ok) throw new h.TaskError(`pid ${after} failed its page check after ${run.name}`, checked);
  return { name: run.name, command: run.command, pid: after, wallMs: step.wallMs, result: res, verify: checked };
}

/**
 * The guest's host policy: its workers run as root, and a root worker needs one. The guest is a
 * throwaway lab machine running only the workload, so any process may be checkpointed.
 * @param {Helpers} h @returns {string}
 */
function writeLabPolicy(h) {
  const file = path.join(h.outDir, 'lab-host-policy.json');
  fs.writeFileSync(file, JSON.stringify({ version: 1, comment: 'soft-dirty lab guest', processes: { uids: 'any' } }), { mode: 0o600 });
  return file;
}

/** @param {string} host @param {NodeJS.ProcessEnv} env @param {Helpers} h @returns {Worker} */
function startWorker(host, env, h) {
  const logFile = path.join(h.outDir, `worker-${host}.log`);
  const fd = fs.openSync(logFile, 'a');
  const bin = path.join(h.repoDir, 'bin', 'ferry.js');
  const child = spawn(process.execPath, [bin, 'worker', '--host', host, '--no-workflows'], { env, stdio: ['ignore', fd, fd], detached: true });
  fs.closeSync(fd);
  child.unref();
  // No pid: the spawn itself failed, and there is no worker to wait for or stop.
  if (child.pid === undefined) throw new h.TaskError(`ferry worker --host ${host} could not be started`, { log: readTail(logFile) });
  return { host, pid: child.pid, logFile };
}

/** @param {Worker} w @param {Helpers} h */
function stopWorker(w, h) {
  try {
    process.kill(w.pid, 'SIGTERM');
    h.waitUntil(`worker ${w.host} to stop`, 60000, () => !h.pidAlive(w.pid));
  } catch {
    try {
      process.kill(w.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** @param {string} file */
function readTail(file) {
  try {
    return fs.readFileSync(file, 'utf8').slice(-4000);
  } catch {
    return '';
  }
}

module.exports = { migrateTask };
