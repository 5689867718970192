/**
 * The local CRIU commands of the pre-dump tutorial: `ferry check`, `ferry pre-dump`, `ferry dump`,
 * `ferry restore`, `ferry inspect`. They drive CRIU on this host directly (no Temporal, no S3).
 *
 * The CRIU layer is required lazily inside each action: `ferry --help` and the other command
 * groups never load it, and these commands load nothing else (startup time matters in the qemu
 * lab, where Node runs under TCG).
 */
import type { Command } from 'commander';
import type { DumpResult, CriuRestoreResult } from '../criu/types';
import type { ChainInfo } from '../criu/chain';
import type { ParentCheck } from '../criu/layer-record';
import type { LayerInfo } from '../criu/images';
import { emit, formatBytes, note, parsePositiveInt, type OutputOptions } from './output';
import { addCommands, jsonOption, type CommandDef, type OptionDef } from './command-table';
import { UsageError } from './usage-error';

type CriuModule = typeof import('../criu/index');

function criu(): CriuModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('../criu/index') as CriuModule;
}

function criuBinary(): string {
  // The config module only reads the environment; it is cheap to load.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadConfig } = require('../config/config') as typeof import('../config/config');
  return loadConfig().criuBinary;
}

/**
 * The driver options of a local step: the CRIU binary and, when FERRY_HOST_POLICY is set, the
 * host policy (images anywhere unless the file names roots). Without the setting the local CLI
 * keeps only the built-in refusals: it runs with the caller's own privileges.
 */
function driverOptions(): import('../criu/driver').DriverOptions {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { loadConfig } = require('../config/config') as typeof import('../config/config');
  const config = loadConfig();
  if (config.hostPolicyFile === undefined) return { criuBinary: config.criuBinary };
  const { loadHostPolicy } = require('../policy/host-policy') as typeof import('../policy/host-policy');
  /* eslint-enable @typescript-eslint/no-require-imports */
  return { criuBinary: config.criuBinary, policy: loadHostPolicy(config.hostPolicyFile, { imageRoots: null }) };
}

/** The chain `ferry inspect` looked at does not restore correctly. */
export class ChainInconsistentError extends Error {
  override readonly name = 'ChainInconsistentError';
  constructor(
    readonly dir: string,
    readonly problems: string[],
  ) {
    super(`the chain ending at ${dir} is NOT consistent (${problems.length} problem${problems.length === 1 ? '' : 's'} above); do not restore it`);
  }
}

const ms = (us: number): string => `${(us / 1000).toFixed(1)} ms`;

function formatDump(r: DumpResult, shellJob = false): string {
  const s = r.stats;
  return [
    `${r.kind} of pid ${r.pid} (${r.process.comm}) written to ${r.imagesDir}` + (r.parent ? `\n  parent   ${r.parent}` : ''),
    `  frozen   ${ms(s.frozenTimeUs)} (memory dump ${ms(s.memdumpTimeUs)})`,
    `  pages    ${s.pagesWritten} written (${formatBytes(s.pagesWritten * 4096)}), ${s.pagesSkippedParent} in parent, ${s.pagesScanned} scanned`,
    `  process  ${r.leftRunning ? 'left running' : 'stopped (restore it with `ferry restore --images-dir ' + r.imagesDir + (shellJob ? ' --shell-job' : '') + '`)'}`,
    ...(r.warnings ?? []).map((w) => `  warning  ${w}`),
  ].join('\n');
}

/** The --json document of pre-dump / dump: the tutorial's fields first, then the rest. */
function dumpJson(r: DumpResult): Record<string, unknown> {
  return { pid: r.pid, imagesDir: r.imagesDir, parent: r.parent, stats: r.stats, kind: r.kind, leftRunning: r.leftRunning, process: r.process, criuVersion: r.criuVersion, ...(r.warnings ? { warnings: r.warnings } : {}) };
}

function layerLine(layer: LayerInfo, index: number): string {
  const st = layer.dumpStats;
  return [
    `${String(index + 1).padStart(2)}. ${layer.kind.padEnd(8)} ${layer.dir}`,
    `      pages written ${layer.pagesPresent}, in parent ${layer.pagesInParent}${layer.pagesLazy ? ` (${layer.pagesLazy} could be restored lazily)` : ''}; ` +
      `page data ${formatBytes(layer.pagesBytes)} of ${formatBytes(layer.bytes)} in ${layer.files} files`,
    st ? `      frozen ${ms(st.frozenTimeUs)}, memory dump ${ms(st.memdumpTimeUs)}, ${st.pagesScanned} pages scanned` : '      (no stats-dump)',
  ].join('\n');
}

const PARENT_CHECK_TEXT: Record<ParentCheck, string> = {
  none: 'first layer (no parent)',
  verified: 'parent verified: the parent link points at the layer this one was dumped against',
  mismatch: 'parent MISMATCH: see the problems below',
  'not-fingerprinted': 'parent not fingerprinted (no ferry-layer.json: written by plain CRIU or an older ferry)',
};

function formatChain(chain: ChainInfo): string {
  const lines = [`chain of ${chain.layers.length} layer${chain.layers.length === 1 ? '' : 's'} (oldest first), pid ${chain.rootPid ?? '?'}:`];
  chain.layers.forEach((layer, i) => lines.push(layerLine(layer, i), `      ${PARENT_CHECK_TEXT[chain.parentChecks[i] ?? 'not-fingerprinted']}`));
  const last = chain.layers[chain.layers.length - 1];
  if (last?.restoreStats) lines.push(`restored once: restore time ${ms(last.restoreStats.restoreTimeUs)}`);
  if (chain.consistent) {
    const unchecked = chain.parentChecks.filter((c) => c === 'not-fingerprinted').length;
    lines.push(
      'consistent: every parent exists, is an earlier pre-dump of the same pid, holds every page marked in parent, and is the latest one' +
        (unchecked > 0 ? ` (${unchecked} parent link${unchecked === 1 ? ' is' : 's are'} not fingerprinted: written without ferry's layer record, so a skipped pre-dump stored elsewhere cannot be ruled out)` : ''),
    );
  }
  else lines.push('NOT consistent:', ...chain.problems.map((p) => `  - ${p}`));
  return lines.join('\n');
}

interface DumpFlags extends OutputOptions {
  pid: string;
  imagesDir: string;
  prevImagesDir?: string;
  leaveRunning?: boolean;
  shellJob?: boolean;
}

/** Linux's PATH_MAX and NAME_MAX: longer paths cannot name a directory at all. */
const PATH_MAX = 4096;
const NAME_MAX = 255;

/** A directory flag's value: not empty, and a path the kernel could accept. */
function dirFlag(flag: string, raw: string): string {
  if (!raw.trim()) throw new UsageError(`${flag} must not be empty`);
  const long = raw.length > PATH_MAX ? `is ${raw.length} characters long (at most ${PATH_MAX})` : raw.split('/').some((part) => Buffer.byteLength(part) > NAME_MAX) ? `has a name longer than ${NAME_MAX} bytes` : null;
  if (long) throw new UsageError(`${flag} ${long}: give the path of a directory (${JSON.stringify(raw.slice(0, 60))}...)`);
  if (raw.includes('\0')) throw new UsageError(`${flag} must not contain a NUL character`);
  return raw;
}

/** parsePositiveInt, but a value far too long to be a number is not echoed back whole. */
function intFlag(flag: string, raw: string): number {
  if (raw.length > 32) throw new UsageError(`${flag} must be a positive integer, got ${raw.length} characters (${JSON.stringify(raw.slice(0, 20))}...)`);
  return parsePositiveInt(flag, raw);
}

function dumpRequest(opts: DumpFlags): { pid: number; imagesDir: string; prevImagesDir?: string; shellJob?: boolean } {
  const pid = intFlag('--pid', opts.pid);
  const imagesDir = dirFlag('--images-dir', opts.imagesDir);
  const prevImagesDir = opts.prevImagesDir === undefined ? undefined : dirFlag('--prev-images-dir', opts.prevImagesDir);
  return { pid, imagesDir, ...(prevImagesDir ? { prevImagesDir } : {}), ...(opts.shellJob ? { shellJob: true } : {}) };
}

async function runCheck(opts: OutputOptions): Promise<void> {
  const binary = criuBinary();
  const { checkCriu } = criu();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { runCriuCheck } = require('../criu/binary') as typeof import('../criu/binary');
  const [rpc, cli] = await Promise.all([checkCriu({ criuBinary: binary }), runCriuCheck(binary)]);
  const result = {
    version: rpc.version,
    binary: rpc.binary ?? cli.binary.path,
    features: rpc.features,
    criuCheck: { ok: cli.ok, summary: cli.summary, errors: cli.errors, warnings: cli.warnings },
  };
  emit(opts, result, (r) =>
    [
      `CRIU ${r.version} (${r.binary})`,
      `  criu check:                      ${r.criuCheck.ok ? 'passed' : 'FAILED'} (${r.criuCheck.summary})`,
      `  memory tracking (soft-dirty):    ${r.features.memTrack ? 'yes: pre-dumps work' : 'NO: pre-dumps are refused; use a full dump'}`,
      `  lazy pages (userfaultfd):        ${r.features.lazyPages ? 'yes' : 'no'}`,
      `  pidfd store:                     ${r.features.pidfdStore ? 'yes' : 'no'}`,
    ].join('\n'),
  );
  if (!cli.ok) {
    throw Object.assign(new Error(`\`criu check\` failed on this host: ${cli.summary}`), { name: 'CriuCheckFailed' });
  }
}

async function runPreDump(opts: DumpFlags): Promise<void> {
  const req = dumpRequest(opts);
  const result = await criu().preDump(req, driverOptions());
  emit(opts, dumpJson(result), () => formatDump(result));
}

async function runDump(opts: DumpFlags): Promise<void> {
  const req = { ...dumpRequest(opts), leaveRunning: opts.leaveRunning === true };
  const result = await criu().dump(req, driverOptions());
  emit(opts, dumpJson(result), () => formatDump(result, req.shellJob === true));
}

async function runRestore(opts: OutputOptions & { imagesDir: string; pidWait?: string; shellJob?: boolean }): Promise<void> {
  const imagesDir = dirFlag('--images-dir', opts.imagesDir);
  const pidWaitMs = opts.pidWait === undefined ? undefined : intFlag('--pid-wait', opts.pidWait) * 1000;
  const result: CriuRestoreResult = await criu().restore(
    { imagesDir, ...(opts.shellJob ? { shellJob: true } : {}) },
    { ...driverOptions(), ...(pidWaitMs ? { pidWaitMs } : {}) },
  );
  if (!opts.json) note(opts, `restored from ${result.imagesDir}${result.restoreTimeUs !== null ? ` in ${ms(result.restoreTimeUs)}` : ''}; pid:`);
  emit(opts, result, (r) => String(r.pid));
}

async function runInspect(dir: string, opts: OutputOptions): Promise<void> {
  const chain = criu().readChain(dirFlag('DIR', dir));
  // Pagemap entries can number in the thousands: JSON gets per-task totals, not every entry.
  const summary = {
    ...chain,
    layers: chain.layers.map((l) => ({ ...l, pagemaps: l.pagemaps.map(({ entries, ...pm }) => ({ ...pm, entries: entries.length })) })),
  };
  emit(opts, summary, () => formatChain(chain));
  if (!chain.consistent) throw new ChainInconsistentError(chain.layers[chain.layers.length - 1]!.dir, chain.problems);
}

const SHELL_JOB: OptionDef = { flags: '--shell-job', help: 'the process was started from a shell without setsid: dump it anyway (restore it with --shell-job too)' };
const JSON_RESULT = jsonOption('print the result as JSON');

export const CRIU_COMMANDS: CommandDef[] = [
  {
    name: 'check',
    description: "Show CRIU's version and which kernel features it can use here (soft-dirty memory tracking decides whether pre-dumps work)",
    options: [JSON_RESULT],
    helpAfter: `
Examples:
  $ ferry check
  $ ferry check --json | jq .features.memTrack

Without memory tracking (mem_track: no) pre-dumps are refused; a full \`ferry dump\` still works.`,
    action: runCheck,
  },
  {
    name: 'pre-dump',
    description: 'Copy a running process\'s memory to an images dir without stopping it for long (CRIU pre-dump with soft-dirty tracking)',
    options: [
      { flags: '--pid <pid>', help: 'process to pre-dump (its whole tree is included)', required: true },
      { flags: '--images-dir <dir>', help: 'new or empty directory for this layer (created 0700)', required: true },
      { flags: '--prev-images-dir <dir>', help: 'the previous pre-dump: write only pages changed since then' },
      SHELL_JOB,
      JSON_RESULT,
    ],
    helpAfter: `
The tutorial's chain: two pre-dumps while the process runs, then a short final dump.
  $ ferry pre-dump --pid 1234 --images-dir ./predump-1
  $ ferry pre-dump --pid 1234 --images-dir ./predump-2 --prev-images-dir ./predump-1
  $ ferry dump     --pid 1234 --images-dir ./final-dump --prev-images-dir ./predump-2
  $ ferry inspect ./final-dump

Each --prev-images-dir must be the LATEST pre-dump of that process: every pre-dump resets the
kernel's soft-dirty bits, so skipping one would restore stale pages (ferry refuses it).
Needs a kernel with CONFIG_MEM_SOFT_DIRTY (see \`ferry check\`).`,
    action: runPreDump,
  },
  {
    name: 'dump',
    description: 'Checkpoint a process into an images dir (CRIU dump); by default the process is stopped once dumped',
    options: [
      { flags: '--pid <pid>', help: 'process to dump (its whole tree is included)', required: true },
      { flags: '--images-dir <dir>', help: 'new or empty directory for the dump (created 0700)', required: true },
      { flags: '--prev-images-dir <dir>', help: 'the latest pre-dump: write only pages changed since then' },
      { flags: '--leave-running', help: 'keep the process running after the dump (a snapshot)' },
      SHELL_JOB,
      JSON_RESULT,
    ],
    helpAfter: `
Examples:
  $ ferry dump --pid 1234 --images-dir ./final-dump --prev-images-dir ./predump-2
  $ ferry dump --pid 1234 --images-dir ./snapshot --leave-running --json
  $ ferry restore --images-dir ./final-dump

A process started from an interactive shell shares the shell's session, which CRIU will not dump
without its leader: start it with \`setsid PROGRAM\`, or pass --shell-job to dump and to restore.
If its session id is 0 (no session leader in sight), only \`setsid PROGRAM\` helps.`,
    action: runDump,
  },
  {
    name: 'restore',
    description: 'Restore a dumped process from its images dir (and its pre-dump chain); it runs detached and keeps its pid',
    options: [
      { flags: '--images-dir <dir>', help: 'the final dump to restore', required: true },
      { flags: '--pid-wait <seconds>', help: 'how long to wait for a dying process to release the pid (default 5)' },
      { flags: '--shell-job', help: 'the dump was taken with --shell-job: the process joins this shell\'s session' },
      JSON_RESULT,
    ],
    helpAfter: `
Examples:
  $ ferry restore --images-dir ./final-dump
  $ pid=$(ferry restore --images-dir ./final-dump --json | jq .pid)

The chain is checked first (\`ferry inspect\`); a pre-dump alone cannot be restored.`,
    action: runRestore,
  },
  {
    name: 'inspect',
    description: 'Show a chain of images layer by layer (pages written, pages in parent, bytes, frozen time) and check it is consistent',
    args: [{ name: '<dir>', help: 'an images dir (usually the final dump; its parents are followed)' }],
    options: [jsonOption('print the chain as JSON')],
    helpAfter: `
Examples:
  $ ferry inspect ./final-dump
  $ ferry inspect ./predump-2 --json | jq '.layers[] | {dir, pagesPresent, pagesInParent}'

Exit status 1 when the chain is not consistent (a missing or wrong parent, or a skipped pre-dump).`,
    action: runInspect,
  },
];

export function registerCriuCommands(program: Command): void {
  addCommands(program, CRIU_COMMANDS);
}
