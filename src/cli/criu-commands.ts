/**
 * The local CRIU commands of the pre-dump tutorial: `ferry check`, `ferry pre-dump`, `ferry dump`,
 * `ferry restore`, `ferry inspect`, and `ferry page-server` for the same chain across two hosts.
 * They drive CRIU on this host directly (no Temporal, no S3).
 *
 * The CRIU layer is required lazily inside each action: `ferry --help` and the other command
 * groups never load it, and these commands load nothing else (startup time matters in the qemu
 * lab, where Node runs under TCG).
 */
import type { Command } from 'commander';
import type { CriuOptions, DumpResult, CriuRestoreResult } from '../criu/types';
import { CRIU_RESOURCE_OPTIONS, CRIU_RESTORE_OPTIONS, criuOptionsFrom, type CriuOptionFlags } from './criu-option-flags';
import type { ChainInfo } from '../criu/chain';
import type { ParentCheck } from '../criu/layer-record';
import type { LayerInfo } from '../criu/images';
import { emit, formatBytes, note, parsePositiveInt, type OutputOptions } from './output';
import { addCommands, jsonOption, type CommandDef, type OptionDef } from './command-table';
import { UsageError } from './usage-error';
import { formatEndpoint, parseEndpoint, parseListenAddress, parsePort, type Endpoint } from './endpoint-args';

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

function formatDump(r: DumpResult, shellJob = false, pagesTo?: string, lazy = false): string {
  const s = r.stats;
  if (lazy) {
    // CRIU's stats-dump of a lazy dump stops before the pages are served: its numbers mean nothing.
    return [
      `lazy dump of pid ${r.pid} (${r.process.comm}) written to ${r.imagesDir}`,
      '  pages    served to the lazy restore, which now has them all',
      `  process  ${r.leftRunning ? 'left running here too' : 'migrated: it runs where it was restored'}`,
      ...(r.warnings ?? []).map((w) => `  warning  ${w}`),
    ].join('\n');
  }
  return [
    `${r.kind} of pid ${r.pid} (${r.process.comm}) written to ${r.imagesDir}` + (r.parent ? `\n  parent   ${r.parent}` : ''),
    `  frozen   ${ms(s.frozenTimeUs)} (memory dump ${ms(s.memdumpTimeUs)})`,
    `  pages    ${s.pagesWritten} ${pagesTo ? `sent to the page server at ${pagesTo}` : 'written'} (${formatBytes(s.pagesWritten * 4096)}), ${s.pagesSkippedParent} in parent, ${s.pagesScanned} scanned`,
    `  process  ${r.leftRunning ? 'left running' : pagesTo ? "stopped (copy these files into the page server's images dir, then restore from that dir with `ferry restore`)" : 'stopped (restore it with `ferry restore --images-dir ' + r.imagesDir + (shellJob ? ' --shell-job' : '') + '`)'}`,
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

interface DumpFlags extends OutputOptions, ResourceFlags {
  pid: string;
  imagesDir: string;
  prevImagesDir?: string;
  leaveRunning?: boolean;
  shellJob?: boolean;
  pageServer?: string;
  lazyPages?: boolean;
}

type ResourceFlags = CriuOptionFlags;

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

function dumpRequest(opts: DumpFlags): { pid: number; imagesDir: string; prevImagesDir?: string; shellJob?: boolean; pageServer?: Endpoint; criuOptions?: CriuOptions } {
  const pid = intFlag('--pid', opts.pid);
  const imagesDir = dirFlag('--images-dir', opts.imagesDir);
  const prevImagesDir = opts.prevImagesDir === undefined ? undefined : dirFlag('--prev-images-dir', opts.prevImagesDir);
  const pageServer = opts.pageServer === undefined ? undefined : parseEndpoint('--page-server', opts.pageServer);
  return { pid, imagesDir, ...(prevImagesDir ? { prevImagesDir } : {}), ...(opts.shellJob ? { shellJob: true } : {}), ...(pageServer ? { pageServer } : {}), ...criuOptionsFrom(opts) };
}

/**
 * `dump --lazy-pages --page-server 0.0.0.0:PORT`: the port the dump serves its pages on. CRIU's RPC
 * reads only the port of a lazy dump (cr-service.c drops ps.address when lazy_pages is set) and
 * binds every IPv4 address; ferry asks for 0.0.0.0 so that nobody believes the memory of the
 * process is offered on one interface only.
 */
function lazyDumpPort(pageServer: Endpoint | undefined): number {
  if (!pageServer) throw new UsageError('--lazy-pages needs --page-server 0.0.0.0:PORT: the port this dump serves the pages on until the lazy restore has them all');
  if (pageServer.address !== '0.0.0.0') {
    throw new UsageError(
      `--lazy-pages serves the pages on every IPv4 address of this host (CRIU cannot bind a lazy dump to one address), ` +
        `so --page-server must be 0.0.0.0:PORT, got ${formatEndpoint(pageServer)}; limit who can reach the port with a firewall`,
    );
  }
  return pageServer.port;
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
  emit(opts, dumpJson(result), () => formatDump(result, false, req.pageServer && formatEndpoint(req.pageServer)));
}

async function runDump(opts: DumpFlags): Promise<void> {
  const base = dumpRequest(opts);
  let driver = driverOptions();
  let req: import('../criu/types').DumpRequest = { ...base, leaveRunning: opts.leaveRunning === true };
  if (opts.lazyPages) {
    const { pageServer, ...rest } = base;
    const port = lazyDumpPort(pageServer);
    req = { ...rest, leaveRunning: opts.leaveRunning === true, lazyPages: true, lazyPagesPort: port };
    // CRIU's DUMP answers only once the restore has fetched every page: say what to do meanwhile.
    driver = {
      ...driver,
      hooks: {
        postDump: () =>
          note(opts, `serving the pages of pid ${req.pid} on port ${port} (every IPv4 address); the process stays frozen until a lazy restore has them all.\n` +
            `  next: copy ${req.imagesDir} to the destination, then run there: ferry restore --images-dir DIR --lazy-pages --page-server THIS_HOST:${port}`),
      },
    };
  }
  const result = await criu().dump(req, driver);
  emit(opts, dumpJson(result), () => formatDump(result, req.shellJob === true, req.pageServer && formatEndpoint(req.pageServer), req.lazyPages === true));
}

interface PageServerFlags extends OutputOptions {
  imagesDir: string;
  port: string;
  address?: string;
  prevImagesDir?: string;
}

async function runPageServer(opts: PageServerFlags): Promise<void> {
  const imagesDir = dirFlag('--images-dir', opts.imagesDir);
  const port = parsePort('--port', opts.port, true);
  const address = opts.address === undefined ? undefined : parseListenAddress('--address', opts.address);
  const prevImagesDir = opts.prevImagesDir === undefined ? undefined : dirFlag('--prev-images-dir', opts.prevImagesDir);
  const server = await criu().startPageServer({ imagesDir, port, ...(address ? { address } : {}), ...(prevImagesDir ? { prevImagesDir } : {}) }, driverOptions());
  const where = formatEndpoint({ address: server.address ?? '0.0.0.0', port: server.port });
  // Printed as soon as it listens: a script running this in the background reads the port here.
  emit(opts, { pid: server.pid, address: server.address ?? '0.0.0.0', port: server.port, imagesDir: server.imagesDir }, () =>
    `page server pid ${server.pid} listening on ${where}${server.address ? '' : ' (every IPv4 address)'}, receiving into ${server.imagesDir}\n` +
      `  waiting for one dump: ferry dump --pid PID --images-dir DIR --page-server THIS_HOST:${server.port}`,
  );
  // Ctrl-C reaches CRIU too, through the terminal's process group; a plain kill of ferry does not:
  // the page server must not outlive the command that reports on it.
  const stop = (): void => {
    try {
      process.kill(server.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('SIGINT', stop).once('SIGTERM', stop);
  let result;
  try {
    result = await server.finished;
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
  note(opts, `received ${formatBytes(result.pagesBytes)} of pages (${result.files.join(', ')}) into ${result.imagesDir}; ` +
    'copy the dump\'s other image files here (they stay in its --images-dir) before restoring from this dir');
}

async function runRestore(opts: OutputOptions & ResourceFlags & { imagesDir: string; pidWait?: string; shellJob?: boolean; lazyPages?: boolean; pageServer?: string }): Promise<void> {
  const imagesDir = dirFlag('--images-dir', opts.imagesDir);
  const pidWaitMs = opts.pidWait === undefined ? undefined : intFlag('--pid-wait', opts.pidWait) * 1000;
  const from = opts.pageServer === undefined ? undefined : parseEndpoint('--page-server', opts.pageServer);
  if (from && !opts.lazyPages) throw new UsageError('--page-server needs --lazy-pages: a restore fetches pages from a lazy dump only (after a page server dump, restore from the page server\'s images dir)');
  const result: CriuRestoreResult = await criu().restore(
    { imagesDir, ...(opts.shellJob ? { shellJob: true } : {}), ...criuOptionsFrom(opts), ...(opts.lazyPages ? { lazyPages: true } : {}), ...(from ? { lazyPagesFrom: from } : {}) },
    { ...driverOptions(), ...(pidWaitMs ? { pidWaitMs } : {}) },
  );
  const lazy = result.lazyPages ? `; pages on demand from ${result.lazyPages.from}, the last one in ${result.lazyPages.allPagesInMs} ms after CRIU restored the process` : '';
  if (!opts.json) note(opts, `restored from ${result.imagesDir}${result.restoreTimeUs !== null ? ` in ${ms(result.restoreTimeUs)}` : ''}${lazy}; pid:`);
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
const PAGE_SERVER_DEST: OptionDef = { flags: '--page-server <addr:port>', help: 'send the pages to `ferry page-server` on another host (IPv4:port, [IPv6]:port or host:port); the other files stay in --images-dir' };

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
      PAGE_SERVER_DEST,
      SHELL_JOB,
      ...CRIU_RESOURCE_OPTIONS,
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
Needs a kernel with CONFIG_MEM_SOFT_DIRTY (see \`ferry check\`).

Across two hosts, the pages go straight to a page server on the destination (one per layer):
  dest$ ferry page-server --images-dir ./ps-1 --port 27000
  src$  ferry pre-dump --pid 1234 --images-dir ./predump-1 --page-server dest.example:27000
  dest$ ferry page-server --images-dir ./ps-2 --port 27000 --prev-images-dir ./ps-1
  src$  ferry pre-dump --pid 1234 --images-dir ./predump-2 --prev-images-dir ./predump-1 --page-server dest.example:27000`,
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
      PAGE_SERVER_DEST,
      { flags: '--lazy-pages', help: 'lazy migration: keep the pages here and serve them on --page-server 0.0.0.0:PORT until `ferry restore --lazy-pages` has them all' },
      SHELL_JOB,
      ...CRIU_RESOURCE_OPTIONS,
      JSON_RESULT,
    ],
    helpAfter: `
Examples:
  $ ferry dump --pid 1234 --images-dir ./final-dump --prev-images-dir ./predump-2
  $ ferry dump --pid 1234 --images-dir ./snapshot --leave-running --json
  $ ferry restore --images-dir ./final-dump

A process started from an interactive shell shares the shell's session, which CRIU will not dump
without its leader: start it with \`setsid PROGRAM\`, or pass --shell-job to dump and to restore.
If its session id is 0 (no session leader in sight), only \`setsid PROGRAM\` helps.

To another host through a page server: the pages go over TCP, the other files stay in --images-dir.
  dest$ ferry page-server --images-dir ./migrated --port 27000
  src$  ferry dump --pid 1234 --images-dir ./final-dump --page-server dest.example:27000
  src$  scp ./final-dump/* dest.example:migrated/
  dest$ ferry restore --images-dir ./migrated

Lazy migration: the process restarts on the destination at once and its memory follows on demand.
This dump returns only when the destination has every page (the process stays frozen until then);
it serves them on every IPv4 address, hence 0.0.0.0. Needs fs.pipe-max-size >= 4194304 here.
  src$  ferry dump --pid 1234 --images-dir ./lazy-dump --lazy-pages --page-server 0.0.0.0:27000
  src$  scp -r ./lazy-dump dest.example:          # while the dump above waits
  dest$ ferry restore --images-dir ./lazy-dump --lazy-pages --page-server src.example:27000`,
    action: runDump,
  },
  {
    name: 'restore',
    description: 'Restore a dumped process from its images dir (and its pre-dump chain); it runs detached and keeps its pid',
    options: [
      { flags: '--images-dir <dir>', help: 'the final dump to restore', required: true },
      { flags: '--pid-wait <seconds>', help: 'how long to wait for a dying process to release the pid (default 5)' },
      { flags: '--shell-job', help: 'the dump was taken with --shell-job: the process joins this shell\'s session' },
      { flags: '--lazy-pages', help: 'start the process before its memory is back; a `criu lazy-pages` daemon fills pages in on demand' },
      { flags: '--page-server <addr:port>', help: 'with --lazy-pages: fetch the pages from that lazy dump (`ferry dump --lazy-pages`) instead of --images-dir' },
      ...CRIU_RESTORE_OPTIONS,
      JSON_RESULT,
    ],
    helpAfter: `
Examples:
  $ ferry restore --images-dir ./final-dump
  $ pid=$(ferry restore --images-dir ./final-dump --json | jq .pid)
  $ ferry restore --images-dir ./final-dump --lazy-pages
  $ ferry restore --images-dir ./lazy-dump --lazy-pages --page-server src.example:27000

The chain is checked first (\`ferry inspect\`); a pre-dump alone cannot be restored.
With --lazy-pages the process runs as soon as CRIU has restored it, and the command returns once
its last page is in (a daemon that fails half-way is reported, not left to kill the process later).`,
    action: runRestore,
  },
  {
    name: 'page-server',
    description: "Receive the memory pages of ONE dump or pre-dump from another host into an images dir (CRIU's page server); runs until that dump is done",
    options: [
      { flags: '--images-dir <dir>', help: 'new or empty directory for the pages (created 0700)', required: true },
      { flags: '--port <port>', help: 'TCP port to listen on (0: any free port, printed)', required: true },
      { flags: '--address <addr>', help: 'IPv4 or IPv6 address of this host to listen on (default: every IPv4 address)' },
      { flags: '--prev-images-dir <dir>', help: 'the page server dir of the previous pre-dump, for an incremental one' },
      jsonOption('print {pid, address, port, imagesDir} as JSON as soon as it listens'),
    ],
    helpAfter: `
The command stays in the foreground, like \`criu page-server\` without -d: it prints where it
listens, waits for one dump to connect, and exits when that dump's connection closes, with status 0
only if the pages arrived whole. Run it in a second terminal (or with &) before the dump.

Examples:
  dest$ ferry page-server --images-dir ./migrated --address 10.0.0.2 --port 27000
  src$  ferry dump --pid 1234 --images-dir ./final-dump --page-server 10.0.0.2:27000
  src$  scp ./final-dump/* 10.0.0.2:migrated/      # the files that are not pages
  dest$ ferry restore --images-dir ./migrated

  $ ferry page-server --images-dir ./ps --port 0 --json > ps.json &   # the chosen port is in ps.json

Nothing authenticates or encrypts the connection: listen on an address only the source can reach.`,
    action: runPageServer,
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
