/**
 * ferry's CRIU steps: check, pre-dump, dump, restore. Each step checks its target and its images
 * dirs before CRIU touches anything, runs one request on a fresh `criu swrk` worker, and turns
 * CRIU's failures into typed errors carrying the real cause from CRIU's log.
 *
 * Safety rules (see docs/criu.md):
 * - the target is pid + start time + boot id, checked before every step;
 * - pid 1, kernel threads and ferry's own process tree are refused;
 * - a pre-dump runs only where FEATURE_CHECK reports memory tracking (a failed pre-dump leaves
 *   CRIU's memfd debris inside the target);
 * - a failed step leaves the target running: CRIU rolls back, and ferry verifies and thaws a task
 *   left stopped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { locateCriu, compareVersions, MIN_CRIU_VERSION, CriuNotFoundError } from './binary';
import { readChain, type ChainInfo } from './chain';
import { mainCause, readLogTail } from './criu-log';
import { CriuFailedError, CriuUnavailableError, KernelFeatureMissingError, LazyPagesFailedError, NoSuchProcessError, NotPermittedError, ParentImagesInvalidError, PidInUseError, ProcessChangedError, type CriuRequestName, isError } from '../core';
import { checkPrevImagesDir, discardPartialImages, prepareImagesDir, releaseImagesDir, tightenImagesDir } from './images-dir';
import { readDumpStats, readInventory, readRestoreStats, readRootPid } from './images';
import { fingerprintLayer, LAYER_RECORD_FORMAT, readLayerRecord, writeLayerRecord, type LayerFingerprint } from './layer-record';
import { checkThp } from './thp';
import { describeExit, LAZY_PAGES_SOCKET, LAZY_PIPE_BYTES, lazyPipeProblem, startLazyPages, type LazyPagesDaemon } from './lazy-pages';
import { checkIdentity, checkTarget, readIdentitySync, readProcStat, waitForPidFree } from './process';
import { CriuRequestFailed, CriuRpcClient, type CriuHooks, type CriuOpts, type CriuVersionInfo } from './rpc-client';
import type { TargetGuard } from './target-guard';
import { readImagedProcesses } from './imaged-processes';
import { CRIU_OPTION_NAMES, type CriuCapabilities, type CriuOptions, type DumpKind, type DumpRequest, type DumpResult, type PageServerAddress, type PreDumpRequest, type ProcessIdentity, type RestoreRequest, type CriuRestoreResult } from './types';

export interface DriverOptions {
  /** CRIU binary name or path (default: FERRY_CRIU, else `criu` on PATH). */
  criuBinary?: string;
  /** Notification callbacks, e.g. to time the freeze (preDump -> postDump) and the thaw. */
  hooks?: CriuHooks;
  /** Cancels the step safely (delivered to CRIU as a failed notification answer; see rpc-client). */
  signal?: AbortSignal;
  /** CRIU log level written to the step's log file (default 2: errors and warnings). */
  logLevel?: number;
  /** Restore only: how long to wait for a dying or zombie process to release the pid (default 5000 ms). */
  pidWaitMs?: number;
  /**
   * What this host allows (see target-guard.ts; the host policy of src/policy implements it):
   * which processes may be dumped and where images may be written and read. Asked before anything
   * is touched. Absent: only the built-in refusals (pid 1, kernel threads, ferry itself).
   */
  policy?: TargetGuard;
}

const ESRCH = 3;
const EPERM = 1;
const EEXIST = 17;

export function binaryName(opts?: { criuBinary?: string }): string {
  return opts?.criuBinary ?? process.env.FERRY_CRIU ?? 'criu';
}

export async function locate(binary: string): Promise<string> {
  try {
    return await locateCriu(binary);
  } catch (err) {
    if (isError(err, CriuNotFoundError)) {
      throw new CriuUnavailableError(binary, binary.includes('/') ? 'no executable file at that path' : 'not found on PATH', { cause: err });
    }
    throw err;
  }
}

/** Starts a worker and checks CRIU's version over RPC (cheaper than running `criu --version`). */
export async function startClient(binary: string): Promise<{ client: CriuRpcClient; version: CriuVersionInfo }> {
  const client = CriuRpcClient.start(await locate(binary));
  try {
    const version = await client.version();
    if (compareVersions(version.version, MIN_CRIU_VERSION) < 0) {
      throw new CriuUnavailableError(binary, `it is version ${version.version}, ferry needs >= ${MIN_CRIU_VERSION}`);
    }
    return { client, version };
  } catch (err) {
    await client.close();
    throw err;
  }
}

/** CRIU's version and the kernel features it can use here (VERSION + FEATURE_CHECK over RPC). */
export async function checkCriu(opts?: { criuBinary?: string }): Promise<CriuCapabilities> {
  const binary = binaryName(opts);
  const { client, version } = await startClient(binary);
  try {
    const features = await client.featureCheck();
    return { version: version.version, features, binary: await locate(binary) };
  } finally {
    await client.close();
  }
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw signal.reason ?? new Error('aborted');
}

export function openDir(dir: string): number {
  return fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
}

/** Turns a failed CRIU answer into the error a user understands, using CRIU's log for the cause. */
export function classifyFailure(
  request: CriuRequestName,
  failure: CriuRequestFailed,
  logFile: string,
  context: { pid?: number; expected?: ProcessIdentity; pageServer?: PageServerAddress; lazyPages?: boolean },
): Error {
  const errno = failure.response.cr_errno ?? null;
  const tail = readLogTail(logFile);
  const text = tail.join('\n');
  const logRef = fs.existsSync(logFile) ? logFile : null;
  if (context.pid !== undefined && (errno === ESRCH || (!readProcStat(context.pid) && /No such process|Can't open \d+|can't seize/i.test(text)))) {
    return new NoSuchProcessError(context.pid, { during: `it exited while CRIU ${request} ran`, cause: failure });
  }
  if (errno === EPERM || /(seize|ptrace|PTRACE).*Operation not permitted|Permission denied/i.test(text)) {
    return new NotPermittedError(`CRIU ${request}`, mainCause(tail) ?? 'EPERM', { cause: failure });
  }
  if (/Pid reuse\*? detected|Pid-reuse detection failed/.test(text) && context.pid !== undefined) {
    const actual = safeIdentity(context.pid);
    if (context.expected && actual) return new ProcessChangedError(context.pid, context.expected, actual, { cause: failure });
    return new ParentImagesInvalidError(logFile, `CRIU could not tie the parent images to pid ${context.pid}: ${tail[tail.length - 1] ?? ''}`, { cause: failure });
  }
  if (/Unable to open parent|parent.*(No such file|ENOENT)|Can't open parent/i.test(text)) {
    return new ParentImagesInvalidError(logFile, tail[tail.length - 1] ?? 'CRIU cannot open the parent images', { cause: failure });
  }
  let hint =
    request === 'RESTORE'
      ? 'The process was not restored; fix the cause above and retry the restore.'
      : request === 'PAGE_SERVER_CHLD'
        ? 'No page server was started; fix the cause above (a port in use: choose another --port) and start it again.'
        : 'The process was left running; its images were discarded. Fix the cause above and retry.';
  if (context.lazyPages && /Lazy pages transfer FAILED/.test(text)) {
    hint =
      'The process was left running; its images were discarded. ' +
      (lazyPipeProblem() ?? 'The lazy restore stopped fetching pages before it had them all: see its lazy-pages.log on the restoring host.');
  } else if (context.pageServer && /Can't connect to server|Failed to resolve hostname|page server doesn't answer/i.test(readLogStart(logFile))) {
    hint =
      `The process was left running; its images were discarded. Is a page server listening at ${context.pageServer.address}:${context.pageServer.port}? ` +
      'Start `ferry page-server` there first (it serves one dump, then exits), and let this host reach that port.';
  }
  // Two different conditions. "Not a session leader": the leader is another process of this pid
  // namespace (the shell that started it); --shell-job records that session as external. "Outside of its
  // pid namespace": the process sees its session id as 0, either because its leader lives in an outer pid
  // namespace or because nothing above it ever started a session (children of an init that never calls
  // setsid, as under some CI runners); CRIU refuses that even for a shell job.
  if (/session leader of .* is outside of its pid namespace/.test(text)) {
    hint =
      'The process was left running. Its session id is 0 (its session leader is outside its pid namespace, or no ' +
      'process above it ever started a session), which CRIU cannot record, not even with --shell-job; start the ' +
      'process as the leader of its own session (e.g. `setsid PROGRAM`) and retry.';
  } else if (/is not a session leader/.test(text)) {
    hint =
      'The process was left running. It belongs to a session whose leader (usually the shell or service manager ' +
      'that started it) would not be dumped with it; start the process as the leader of its own session ' +
      '(e.g. `setsid PROGRAM`) and retry, or dump it as a shell job (`--shell-job`, and restore it with `--shell-job`).';
  }
  return new CriuFailedError(request, errno, tail, logRef, hint, { cause: failure, mainCause: mainCause(tail) });
}

/** A log's first MiB, for causes CRIU reports below error level early in a step (empty when unreadable). */
function readLogStart(file: string, maxBytes = 1 << 20): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(Math.min(fs.fstatSync(fd).size, maxBytes));
      fs.readSync(fd, buf, 0, buf.length, 0);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** The options that are on, in a fixed order (what the layer record keeps). */
function enabledOptions(o: CriuOptions | undefined): CriuOptions {
  const on: CriuOptions = {};
  for (const name of CRIU_OPTION_NAMES) if (o?.[name] === true) on[name] = true;
  return on;
}

/** CriuOptions as CRIU's RPC fields. */
function criuOptsOf(o: CriuOptions): Partial<CriuOpts> {
  return {
    ...(o.fileLocks ? { file_locks: true } : {}),
    ...(o.tcpEstablished ? { tcp_established: true } : {}),
    ...(o.extUnixSk ? { ext_unix_sk: true } : {}),
    ...(o.linkRemap ? { link_remap: true } : {}),
  };
}

/** What a restore of the chain ending at `dir` needs: the options its final dump recorded, plus any asked for. */
function optionsForRestore(dir: string, asked: CriuOptions | undefined): CriuOptions {
  const read = readLayerRecord(dir);
  const recorded = read && 'record' in read ? (read.record.criuOptions ?? {}) : {};
  return enabledOptions({ ...recorded, ...enabledOptions(asked) });
}

function safeIdentity(pid: number): ProcessIdentity | null {
  try {
    return readIdentitySync(pid);
  } catch {
    return null;
  }
}

/**
 * After a failed dump: CRIU rolls back, but a target must never stay stopped because of ferry.
 * Returns a note when ferry had to resume it.
 */
function ensureNotLeftStopped(pid: number, stateBefore: string): string | null {
  const after = readProcStat(pid);
  if (!after) return null;
  if ((after.state === 'T' || after.state === 't') && stateBefore !== 'T' && stateBefore !== 't') {
    try {
      process.kill(pid, 'SIGCONT');
      return `pid ${pid} was left stopped by the failed step; ferry resumed it (SIGCONT)`;
    } catch {
      return `pid ${pid} was left stopped by the failed step and ferry could not resume it: run kill -CONT ${pid}`;
    }
  }
  return null;
}

async function runDumpStep(kind: DumpKind, req: DumpRequest, opts: DriverOptions = {}): Promise<DumpResult> {
  throwIfAborted(opts.signal);
  const request: CriuRequestName = kind === 'pre-dump' ? 'SINGLE_PRE_DUMP' : 'DUMP';
  const identity = checkTarget(req.pid, req.expectedIdentity);
  if (opts.policy) {
    opts.policy.checkProcess(kind, identity);
    opts.policy.checkImagesDir(kind, req.imagesDir);
    if (req.prevImagesDir) opts.policy.checkImagesDir(kind, req.prevImagesDir, 'parent images dir');
  }
  const prepared = prepareImagesDir(req.imagesDir);
  let reachedCriu = false;
  try {
    // Pages sent to a page server left no pagemap here: the parent's pages are checked over there.
    const prev = req.prevImagesDir ? checkPrevImagesDir(req.prevImagesDir, prepared.dir, identity, undefined, req.pageServer !== undefined) : null;
    const trackMem = kind === 'pre-dump' || prev !== null;
    // Fingerprint the parent before anything is frozen: a failure here costs the process nothing.
    const parentFingerprint: LayerFingerprint | null = prev
      ? fingerprintLayer(prev.dir, prev.layer.inventory.dumpUptimeUs, identity.pid, identity.bootId)
      : null;
    const { client, version } = await startClient(binaryName(opts));
    const logName = kind === 'pre-dump' ? 'pre-dump.log' : 'dump.log';
    const logFile = path.join(prepared.dir, logName);
    const stateBefore = readProcStat(req.pid)?.state ?? '?';
    try {
      const lazy = kind === 'dump' && req.lazyPages === true;
      if (trackMem || lazy) {
        const features = await client.featureCheck();
        if (trackMem && !features.memTrack) {
          // Never attempt it: a failed pre-dump leaves memfd debris inside the target.
          throw new KernelFeatureMissingError('mem_track', kind === 'pre-dump' ? 'pre-dump' : 'incremental dump');
        }
        if (lazy && !features.lazyPages) throw new KernelFeatureMissingError('lazy_pages', 'lazy dump');
      }
      throwIfAborted(opts.signal);
      // The pid may have been recycled while the worker started.
      checkIdentity(identity, readIdentitySync(req.pid));
      const dirFd = openDir(prepared.dir);
      const criuOpts: CriuOpts = {
        images_dir_fd: dirFd,
        pid: req.pid,
        log_file: logName,
        // CRIU logs a page server it cannot reach only at info level (setup_tcp_client's pr_info).
        log_level: req.pageServer && !lazy ? Math.max(opts.logLevel ?? 2, 3) : (opts.logLevel ?? 2),
        ...(trackMem ? { track_mem: true } : {}),
        ...(prev ? { parent_img: prev.parentImg } : {}),
        ...(kind === 'dump' && req.leaveRunning ? { leave_running: true } : {}),
        ...(req.shellJob ? { shell_job: true } : {}),
        ...criuOptsOf(enabledOptions(req.criuOptions)),
        // CRIU reads only the port of a lazy dump's ps (cr-service.c): it serves on every IPv4 address.
        ...(lazy ? { lazy_pages: true, ps: { port: req.lazyPagesPort ?? 0 } } : req.pageServer ? { ps: { address: req.pageServer.address, port: req.pageServer.port } } : {}),
      };
      reachedCriu = true;
      try {
        if (kind === 'pre-dump') await client.singlePreDump(criuOpts, { hooks: opts.hooks, signal: opts.signal });
        else await client.dump(criuOpts, { hooks: opts.hooks, signal: opts.signal });
      } finally {
        fs.closeSync(dirFd);
      }
    } catch (err) {
      if (!reachedCriu) throw err;
      discardPartialImages(prepared.dir);
      const note = ensureNotLeftStopped(req.pid, stateBefore);
      const classified = err instanceof CriuRequestFailed
        ? classifyFailure(request, err, logFile, { pid: req.pid, expected: req.expectedIdentity, ...(req.pageServer ? { pageServer: req.pageServer } : {}), ...(kind === 'dump' && req.lazyPages ? { lazyPages: true } : {}) })
        : err;
      if (note && classified instanceof Error) classified.message += ` (${note})`;
      throw classified;
    } finally {
      await client.close();
    }
    const warnings: string[] = [];
    const recordProblem = recordLayer(prepared.dir, kind, req.expectedIdentity ?? identity, parentFingerprint, enabledOptions(req.criuOptions));
    if (recordProblem) warnings.push(recordProblem);
    tightenImagesDir(prepared.dir);
    const stats = readDumpStats(prepared.dir);
    if (kind === 'pre-dump' && prev === null) {
      const thp = checkThp(req.pid);
      if (thp) warnings.push(thp);
    }
    return {
      kind,
      pid: req.pid,
      imagesDir: prepared.dir,
      parent: prev ? prev.dir : null,
      leftRunning: kind === 'pre-dump' || req.leaveRunning === true,
      process: req.expectedIdentity ?? identity,
      stats: {
        frozenTimeUs: stats.frozenTimeUs,
        memdumpTimeUs: stats.memdumpTimeUs,
        pagesScanned: stats.pagesScanned,
        pagesWritten: stats.pagesWritten,
        pagesSkippedParent: stats.pagesSkippedParent,
      },
      criuVersion: version.version,
      ...(warnings.length > 0 ? { warnings } : {}),
    };
  } catch (err) {
    if (!reachedCriu) releaseImagesDir(prepared);
    throw err;
  }
}

/**
 * Writes ferry-layer.json into the layer CRIU just wrote (see layer-record.ts). The dump already
 * succeeded (a final dump has stopped the process), so a failure here is a warning, not an error:
 * the layer is still good, its parent link just cannot be verified later.
 */
function recordLayer(dir: string, kind: DumpKind, target: ProcessIdentity, parent: LayerFingerprint | null, options: CriuOptions): string | null {
  try {
    const criuOptions = Object.keys(options).length > 0 ? { criuOptions: options } : {};
    writeLayerRecord(dir, { format: LAYER_RECORD_FORMAT, kind, process: target, dumpUptimeUs: readInventory(dir).dumpUptimeUs, parent, ...criuOptions });
    return null;
  } catch (err) {
    return `ferry could not write its layer record into ${dir} (${(err as Error).message}); the layer is usable, but its parent link cannot be verified later`;
  }
}

/**
 * One incremental pre-dump (CRIU SINGLE_PRE_DUMP with memory tracking): the process keeps running
 * and its memory goes to `imagesDir`; with `prevImagesDir`, only pages dirtied since that layer.
 * Refused with KernelFeatureMissingError where the kernel has no soft-dirty tracking.
 */
export function preDump(req: PreDumpRequest, opts?: DriverOptions): Promise<DumpResult> {
  return runDumpStep('pre-dump', req, opts);
}

/**
 * The final dump: freezes the process, writes everything not already in `prevImagesDir`'s chain,
 * and (unless leaveRunning) kills it, ready to be restored elsewhere.
 */
export function dump(req: DumpRequest, opts?: DriverOptions): Promise<DumpResult> {
  return runDumpStep('dump', req, opts);
}

/**
 * Restores the process tree of a final dump, detached from ferry (re-parented to init once CRIU
 * exits). Waits up to `pidWaitMs` for a dying or zombie process to release the pid.
 *
 * With lazyPages, a `criu lazy-pages` daemon (lazy-pages.ts) serves the memory on demand; the
 * process runs once RESTORE answers, and this returns when its last page is in, so that a daemon
 * that fails half-way is reported rather than found later as a process dead of a missing page.
 */
export async function restore(req: RestoreRequest, opts: DriverOptions = {}): Promise<CriuRestoreResult> {
  throwIfAborted(opts.signal);
  opts.policy?.checkImagesDir('restore', req.imagesDir);
  const chain = assertRestorableChain(req.imagesDir);
  // CRIU reads every layer of the chain; parent links must not lead out of the allowed roots.
  if (opts.policy) for (const layer of chain.layers.slice(0, -1)) opts.policy.checkImagesDir('restore', layer.dir, 'parent layer');
  const dir = chain.layers.at(-1)!.dir;
  // CRIU gives the restored tree the credentials the images record: the host decides first.
  opts.policy?.checkRestoredProcesses(readImagedProcesses(dir));
  const rootPid = readRootPid(dir);
  const waitMs = opts.pidWaitMs ?? 5000;
  // Root pid 1: the dump's root is the init of its own pid namespace, which CRIU restores into a
  // new pid namespace; its pids are not taken from this one.
  const holder = rootPid === 1 ? null : await waitForPidFree(rootPid, waitMs);
  if (holder) throw new PidInUseError(rootPid, { comm: holder.comm, state: holder.state, ppid: holder.ppid }, waitMs);
  throwIfAborted(opts.signal);
  const binary = binaryName(opts);
  const { client } = await startClient(binary);
  const logFile = path.join(dir, 'restore.log');
  const restoreOptions = optionsForRestore(dir, req.criuOptions);
  let response;
  let daemon: LazyPagesDaemon | null = null;
  try {
    if (req.lazyPages) {
      if (!(await client.featureCheck()).lazyPages) throw new KernelFeatureMissingError('lazy_pages', 'lazy restore');
      daemon = await startLazyPages(await locate(binary), dir, req.lazyPagesFrom, opts.logLevel ?? 2);
    }
    const dirFd = openDir(dir);
    try {
      const restoring = client.restore(
        {
          images_dir_fd: dirFd,
          rst_sibling: true,
          log_file: 'restore.log',
          log_level: opts.logLevel ?? 2,
          ...(req.shellJob ? { shell_job: true } : {}),
          ...criuOptsOf(restoreOptions),
          ...(req.lazyPages ? { lazy_pages: true } : {}),
        },
        { hooks: opts.hooks, signal: opts.signal },
      );
      response = daemon ? await unlessDaemonFails(restoring, daemon, () => lazyFailure(dir, null, daemon!, req, daemon!.exit()!, null, true)) : await restoring;
    } finally {
      fs.closeSync(dirFd);
    }
  } catch (err) {
    if (daemon) {
      // A daemon that died first is the cause (the restore only saw its socket close).
      // (its exit may reach ferry just after CRIU's answer: give it a moment).
      const diedFirst = daemon.exit() ?? (await Promise.race([daemon.finished, new Promise<null>((r) => setTimeout(() => r(null), 1000).unref())]));
      const exit = diedFirst ?? (await daemon.stop());
      if (diedFirst && (exit.code !== 0 || exit.signal) && err instanceof CriuRequestFailed && !/Can't fork for \d+: File exists/.test(readLogTail(logFile).join('\n'))) {
        throw lazyFailure(dir, null, daemon, req, exit, err);
      }
    }
    if (err instanceof CriuRequestFailed) {
      if (err.response.cr_errno === EEXIST || readLogTail(logFile).some((l) => /Can't fork for \d+: File exists/.test(l))) {
        const stat = readProcStat(rootPid);
        throw new PidInUseError(rootPid, stat ? { comm: stat.comm, state: stat.state, ppid: stat.ppid } : { comm: '?', state: '?', ppid: 0 }, waitMs, { cause: err });
      }
      throw classifyFailure('RESTORE', err, logFile, {});
    }
    throw err;
  } finally {
    await client.close(daemon?.exit() ? 2000 : undefined);
  }
  const pid = response.restore?.pid ?? rootPid;
  let lazyPages: CriuRestoreResult['lazyPages'];
  if (daemon) {
    const answeredAt = performance.now();
    const exit = await daemon.finished;
    // CRIU leaves the daemon's socket behind; a later lazy restore from this dir makes its own.
    fs.rmSync(path.join(dir, LAZY_PAGES_SOCKET), { force: true });
    if (exit.code !== 0 || exit.signal) {
      // The process runs without part of its memory, and no daemon will bring it: a fault there
      // would now read zeros or hang. It must not go on as if it were whole.
      const failure = lazyFailure(dir, pid, daemon, req, exit, null);
      try {
        process.kill(pid, 'SIGKILL');
        failure.message += ` (ferry killed pid ${pid}: it lacked memory that will not come)`;
      } catch {
        // already gone
      }
      throw failure;
    }
    const from = req.lazyPagesFrom ? `${req.lazyPagesFrom.address.includes(':') ? `[${req.lazyPagesFrom.address}]` : req.lazyPagesFrom.address}:${req.lazyPagesFrom.port}` : dir;
    lazyPages = { from, allPagesInMs: Math.round(performance.now() - answeredAt) };
  }
  tightenImagesDir(dir);
  let restoreTimeUs: number | null = null;
  try {
    restoreTimeUs = readRestoreStats(dir).restoreTimeUs;
  } catch {
    // stats-restore is informative only
  }
  return { pid, imagesDir: dir, restoreTimeUs, ...(lazyPages ? { lazyPages } : {}) };
}

/**
 * The restore's answer, unless the lazy-pages daemon fails first and CRIU then stays silent: CRIU
 * 4.1.1 was seen to hang after such a failure (restoring a pid namespace, its worker waits forever
 * in do_wait after "Killing processes because of failure on restore").
 */
async function unlessDaemonFails<T>(restoring: Promise<T>, daemon: LazyPagesDaemon, failure: () => Error, graceMs = 10000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = daemon.finished.then(
    (exit) =>
      new Promise<never>((_, reject) => {
        if (exit.code === 0 && !exit.signal) return; // every page delivered: only the answer is left
        timer = setTimeout(() => reject(failure()), graceMs);
      }),
  );
  try {
    return await Promise.race([restoring, gaveUp]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** The lazy-pages daemon's failure in words, with what to do about it. */
function lazyFailure(
  dir: string,
  pid: number | null,
  daemon: LazyPagesDaemon,
  req: RestoreRequest,
  exit: { code: number | null; signal: NodeJS.Signals | null },
  cause: unknown,
  criuSilent = false,
): LazyPagesFailedError {
  const tail = readLogTail(daemon.logFile);
  const problem =
    `criu lazy-pages ended with ${describeExit(exit)}${tail.length ? `: ${mainCause(tail) ?? tail[tail.length - 1]}` : ''}` +
    (criuSilent ? '; CRIU\'s restore did not answer after that, and ferry stopped waiting (a `criu restore --rpc` process may be left hanging: kill it)' : '');
  const remote = req.lazyPagesFrom;
  const hint = remote
    ? `The lazy dump at ${remote.address}:${remote.port} stopped serving pages. Read its dump.log on that host: ` +
      `\`page-pipe: splice: -1: Bad file descriptor\` there means its fs.pipe-max-size is below ${LAZY_PIPE_BYTES} bytes ` +
      `(run \`sysctl -w fs.pipe-max-size=${LAZY_PIPE_BYTES}\` on it); the dumped process then keeps running there, so dump it again.`
    : 'Check that the images dir holds every page (a lazy dump\'s images need --page-server pointing at that dump).';
  return new LazyPagesFailedError(dir, pid, problem, fs.existsSync(daemon.logFile) ? daemon.logFile : null, hint, cause === null ? undefined : { cause });
}

/**
 * The chain ending at `dirArg`, if it can be restored: a consistent chain (see chain.ts) whose
 * newest layer is a full dump. Throws ParentImagesInvalidError listing every problem otherwise,
 * or ImagesInvalidError when `dirArg` is not an images dir at all.
 */
export function assertRestorableChain(dirArg: string): ChainInfo {
  const dir = path.resolve(dirArg);
  const chain = readChain(dir);
  const newest = chain.layers[chain.layers.length - 1]!;
  if (newest.kind !== 'dump') {
    throw new ParentImagesInvalidError(dir, 'it is a pre-dump: only a final dump can be restored (run `ferry dump --prev-images-dir` on it first)');
  }
  if (!chain.consistent) {
    throw new ParentImagesInvalidError(dir, `the chain would not restore correctly:\n  ${chain.problems.join('\n  ')}`);
  }
  return chain;
}

export { readProcessIdentity } from './process';
