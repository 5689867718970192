// @ts-check
'use strict';
// Prints what `make lab` proved and measured, from the work dir run-lab.sh filled.
//   node summarize.js WORK_DIR GUEST_BUILD_MS TOTAL_MS
const fs = require('node:fs');
const path = require('node:path');

const [work, buildMs, totalMs] = process.argv.slice(2);
/** @typedef {{ tasks: Array<{ kind: string, ok: boolean, value: any }> }} LabResult  out/result.json of a boot (guest/scenario.js) */

/** @param {...string} p */
const read = (...p) => JSON.parse(fs.readFileSync(path.join(work, ...p), 'utf8'));
/** @param {LabResult} result @param {string} kind */
const task = (result, kind) => {
  const t = result.tasks.find((x) => x.kind === kind);
  if (!t || !t.ok) throw new Error(`task ${kind} did not succeed in ${work}`);
  return t.value;
};
/** @param {number} us */
const ms = (us) => `${(us / 1000).toFixed(0)} ms`;

const boot1 = read('boot1', 'boot.json');
const boot2 = read('boot2', 'boot.json');
const r1 = read('boot1', 'out', 'result.json');
const r2 = read('boot2', 'out', 'result.json');
const check = task(r1, 'check');
const chain = task(r1, 'chain');
const restore = task(r2, 'restore');
/** @param {string} name @param {{ stats: { frozenTimeUs: number, pagesWritten: number, pagesSkippedParent: number }, wallMs: number }} s */
const step = (name, s) =>
  `  ${name.padEnd(11)} frozen ${ms(s.stats.frozenTimeUs).padStart(8)}  written ${String(s.stats.pagesWritten).padStart(6)}  in parent ${String(s.stats.pagesSkippedParent).padStart(6)}  (ferry wall ${s.wallMs} ms)`;

const lines = [
  '',
  `soft-dirty lab: kernel ${check.kernel}, ${check.criuVersion}, criu check exit ${check.check.exit}, mem_dirty_track exit ${check.memDirtyTrack.exit}`,
  `workload pid ${chain.pid}: ${chain.workload.mib} MiB, ${chain.workload.dirtyPermille}/1000 pages every ${chain.workload.intervalMs} ms`,
  step('pre-dump 1', chain.preDump1),
  step('pre-dump 2', chain.preDump2),
  step('final dump', chain.finalDump),
  `  restore     ${chain.restore.restoreTimeUs !== null ? ms(chain.restore.restoreTimeUs) : '?'} (ferry wall ${chain.restore.wallMs} ms); verify: ${chain.verifyAfter.ok ? 'every page intact' : `${chain.verifyAfter.bad} BAD pages`} (${chain.verifyAfter.pages} pages)`,
  `negative control: ferry restore of the wrong-parent chain exited ${restore.wrongChain.exit} (refused)` +
    (restore.directCriuRestore && restore.directCriuRestore.verify
      ? `; CRIU alone restored it with ${restore.directCriuRestore.verify.bad} stale pages`
      : ''),
  `second boot: restore of the returned chain: ${restore.verify.ok ? 'every page intact' : `${restore.verify.bad} BAD pages`}`,
  `times: guest build ${buildMs} ms; boot 1 ${boot1.wallMs} ms (init at ${boot1.initStartMs} ms); boot 2 ${boot2.wallMs} ms (init at ${boot2.initStartMs} ms); total ${totalMs} ms`,
];
console.log(lines.join('\n'));
