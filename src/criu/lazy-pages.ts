/**
 * The `criu lazy-pages` daemon of a lazy restore, and what lazy migration needs of the host.
 *
 * CRIU's RPC has no request that starts this daemon (criu_req_type stops at SINGLE_PRE_DUMP;
 * cr-service.c only passes `lazy_pages` on to RESTORE), so ferry runs the `criu lazy-pages`
 * command itself, with the environment of every CRIU it starts (criuEnvironment). The daemon and
 * the restore meet on the UNIX socket `lazy-pages.socket` in the images dir, which is the work dir
 * of both; the daemon then serves page faults from the images dir, or from a lazy dump's page
 * server, and exits once every page is in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { LazyPagesFailedError } from '../core';
import { criuEnvironment } from './binary';
import { mainCause, readLogTail } from './criu-log';
import type { PageServerAddress } from './types';

export const LAZY_PAGES_LOG = 'lazy-pages.log';
/** CRIU's name for the daemon's socket in the work dir (LAZY_PAGES_SOCK_NAME in criu/uffd.c). */
export const LAZY_PAGES_SOCKET = 'lazy-pages.socket';

/** How long the daemon may take to open its socket (it reads only pstree.img first). */
const READY_TIMEOUT_MS = 15000;

export interface LazyPagesExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LazyPagesDaemon {
  pid: number;
  logFile: string;
  /** Resolves when every page was delivered and the daemon exited; never rejects. */
  finished: Promise<LazyPagesExit>;
  /** The daemon's exit, if it already happened. */
  exit(): LazyPagesExit | null;
  /** Ends the daemon (after a failed restore, nothing will ask it for pages). */
  stop(): Promise<LazyPagesExit>;
}

/**
 * Starts `criu lazy-pages` for `dir` and resolves once it listens for the restore (CRIU writes one
 * byte to --status-fd then). Rejects with the cause from its log when it exits first.
 */
export async function startLazyPages(binary: string, dir: string, from: PageServerAddress | undefined, logLevel: number): Promise<LazyPagesDaemon> {
  const logFile = path.join(dir, LAZY_PAGES_LOG);
  const args = ['lazy-pages', '-D', dir, '-o', LAZY_PAGES_LOG, `-v${logLevel}`, '--status-fd', '3'];
  if (from) args.push('--page-server', '--address', from.address, '--port', String(from.port));
  // umask 077 as for the swrk worker (transport.ts): the log lands among the images.
  const child: ChildProcess = spawn('/bin/sh', ['-c', 'umask 077; exec "$0" "$@"', binary, ...args], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: criuEnvironment(),
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4096);
  });
  let exited: LazyPagesExit | null = null;
  const finished = new Promise<LazyPagesExit>((resolve) => {
    child.once('error', (err) => {
      stderr += err.message;
      exited = { code: null, signal: null };
      resolve(exited);
    });
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  const status = child.stdio[3] as NodeJS.ReadableStream;
  const ready = new Promise<boolean>((resolve) => {
    status.once('data', () => resolve(true));
    void finished.then(() => resolve(false));
    setTimeout(() => resolve(false), READY_TIMEOUT_MS).unref();
  });
  const daemon: LazyPagesDaemon = {
    pid: child.pid ?? 0,
    logFile,
    finished,
    exit: () => exited,
    async stop() {
      if (!exited) child.kill('SIGKILL');
      return finished;
    },
  };
  if (!(await ready)) {
    const exit = exited ?? (await daemon.stop());
    const cause = mainCause(readLogTail(logFile)) ?? (stderr.trim() || describeExit(exit));
    throw new LazyPagesFailedError(dir, null, `criu lazy-pages did not start (${describeExit(exit)}): ${cause}`, fs.existsSync(logFile) ? logFile : null,
      'Nothing was restored. Fix the cause above and retry, or restore without --lazy-pages.');
  }
  // Nothing more comes on the status pipe; it must not keep ferry's event loop alive.
  status.removeAllListeners('data');
  (status as unknown as { destroy(): void }).destroy();
  return daemon;
}

export function describeExit(exit: LazyPagesExit): string {
  return exit.signal ? `killed by ${exit.signal}` : exit.code === null ? 'could not be started' : `exit status ${exit.code}`;
}

/**
 * CRIU's lazy page server (the dumping side of a lazy migration) reads pages through a pipe of
 * 4 MiB: PIPE_MAX_SIZE in criu/include/page-pipe.h is 819 pages (32 KiB of 40-byte pipe_buffer
 * slots), which the kernel rounds up to a power of two, 1024 pages. Without CAP_SYS_RESOURCE a pipe
 * may not grow beyond fs.pipe-max-size (1 MiB by default), and CRIU 4.1 ignores that failure: its
 * first page transfer then fails with `splice: -1: Bad file descriptor` and the migration aborts.
 */
export const LAZY_PIPE_BYTES = 4 * 1024 * 1024;

const CAP_SYS_RESOURCE = 24;

/** Why a lazy page server cannot work on this host, or null when it can (or nobody can tell). */
export function lazyPipeProblem(): string | null {
  let max: number;
  try {
    max = Number(fs.readFileSync('/proc/sys/fs/pipe-max-size', 'utf8').trim());
  } catch {
    return null;
  }
  if (!(max < LAZY_PIPE_BYTES) || hasCapability(CAP_SYS_RESOURCE)) return null;
  return (
    `fs.pipe-max-size is ${max} bytes here, and CRIU's lazy page server needs a ${LAZY_PIPE_BYTES}-byte pipe ` +
    `(ferry's CRIU runs without CAP_SYS_RESOURCE): run \`sysctl -w fs.pipe-max-size=${LAZY_PIPE_BYTES}\` on the dumping host ` +
    '(persist it in /etc/sysctl.d/) and migrate again'
  );
}

function hasCapability(bit: number): boolean {
  try {
    const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('CapEff:'));
    return line ? (BigInt(`0x${line.slice(7).trim()}`) >> BigInt(bit)) % 2n === 1n : false;
  } catch {
    return false;
  }
}
