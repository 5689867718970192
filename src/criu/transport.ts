/**
 * Transport to one `criu swrk` worker: a SOCK_SEQPACKET socketpair, one protobuf message per
 * packet. Knows nothing of message contents.
 *
 * Why it is built this way (see shared FACTS):
 * - Node has neither socketpair() nor SEQPACKET, so build/ferry_native.node makes the pair and
 *   node-unix-socket's SeqpacketSocket drives the parent end (one 'data' event = one message).
 * - The child end is CRIU's fd 3 (`criu swrk 3`) and stays blocking, as CRIU needs.
 * - CRIU runs under a tiny intermediate shell that waits for it and exits with its status. A task
 *   restored with rst_sibling becomes a child of CRIU's parent: the shell, not Node. When the shell
 *   exits, the restored task is re-parented to init (or the nearest subreaper), so a long-lived
 *   worker never accumulates restored children or zombies.
 * - SeqpacketSocket must not be destroyed inside its own 'data' handler (Rust panic); destruction
 *   is always deferred with setImmediate.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CriuUnavailableError } from '../core';
import { criuEnvironment } from './binary';

interface NativeAddon {
  seqpacketPair(): [number, number];
}

interface SeqpacketSocketLike {
  on(event: 'data', listener: (buf: Buffer) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  write(buf: Buffer, offset?: number, length?: number, cb?: () => void): void;
  destroy(): void;
}

let native: NativeAddon | undefined;

/** The package root: where package.json is, from src/criu (ts-jest) and dist/criu alike. */
function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(__dirname, '..', '..');
    dir = up;
  }
}

function loadNative(): NativeAddon {
  if (!native) {
    const file = path.join(packageRoot(), 'build', 'ferry_native.node');
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      native = require(file) as NativeAddon;
    } catch (err) {
      throw new CriuUnavailableError('criu', `ferry's native helper ${file} cannot be loaded (${(err as Error).message}); run \`npm run build\``, { cause: err });
    }
  }
  return native;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last few KiB CRIU printed on stderr (it logs to a file; stderr holds only early failures). */
  stderr: string;
}

const STDERR_KEEP = 8192;

/** One running `criu swrk` and its socket. */
export class CriuWorker {
  private readonly socket: SeqpacketSocketLike;
  private readonly child: ChildProcess;
  private readonly inbox: Buffer[] = [];
  private waiter: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | null = null;
  private ended = false;
  private endError: Error | null = null;
  private stderrText = '';
  private exit: WorkerExit | null = null;
  private readonly exited: Promise<WorkerExit>;
  private destroyed = false;

  constructor(readonly binary: string) {
    const [parentFd, childFd] = loadNative().seqpacketPair();
    let child: ChildProcess;
    try {
      // The shell forks CRIU (a command followed by another is never exec'd in place), waits
      // for it and exits with its status: restored tasks become the shell's children, not ours.
      // umask 077: CRIU creates images and logs with mode 0666 & ~umask, and images hold a
      // process's whole memory (secrets included), so none may be readable by other users.
      // Restored tasks get their own umask back from fs-*.img, so this does not leak into them.
      child = spawn('/bin/sh', ['-c', 'umask 077; "$0" "$@"; exit $?', binary, 'swrk', '3'], {
        stdio: ['ignore', 'ignore', 'pipe', childFd],
        env: criuEnvironment(),
      });
    } catch (err) {
      fs.closeSync(parentFd);
      fs.closeSync(childFd);
      throw new CriuUnavailableError(binary, `cannot start it (${(err as Error).message})`, { cause: err });
    }
    // The child holds its own copy; ours would keep the socket open after CRIU exits.
    fs.closeSync(childFd);
    this.child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderrText = (this.stderrText + chunk).slice(-STDERR_KEEP);
    });
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.exit = { code: null, signal: null, stderr: `${this.stderrText}${err.message}` };
        this.fail(new CriuUnavailableError(binary, `cannot start it (${err.message})`, { cause: err }));
        resolve(this.exit);
      });
      child.once('exit', (code, signal) => {
        this.exit = { code, signal, stderr: this.stderrText };
        resolve(this.exit);
      });
    });

    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { SeqpacketSocket } = require('node-unix-socket') as { SeqpacketSocket: new (fd: number) => SeqpacketSocketLike };
    this.socket = new SeqpacketSocket(parentFd);
    this.socket.on('data', (buf) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w.resolve(buf);
      } else {
        this.inbox.push(buf);
      }
    });
    this.socket.on('end', () => this.fail(null));
    this.socket.on('close', () => this.fail(null));
    this.socket.on('error', (err) => this.fail(err));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private fail(err: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    this.endError = err;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      void this.closedError().then(w.reject);
    }
  }

  /** Why the socket closed: CRIU's exit status and stderr explain it better than the socket does. */
  private async closedError(): Promise<Error> {
    // CRIU closes the socket as it exits; give the exit event a moment to arrive for the message.
    const exit = await Promise.race([this.exited, new Promise<null>((r) => setTimeout(() => r(null), 2000).unref())]);
    const stderr = exit?.stderr.trim().split('\n').slice(-3).join(' | ');
    const status = exit ? (exit.signal ? `killed by ${exit.signal}` : `exit status ${exit.code}`) : 'still running';
    if (exit && exit.code === 127) {
      return new CriuUnavailableError(this.binary, `the shell could not run it (${stderr || 'not found'})`);
    }
    return new CriuUnavailableError(
      this.binary,
      `the CRIU worker closed its socket without answering (${status}${stderr ? `; stderr: ${stderr}` : ''}${this.endError ? `; ${this.endError.message}` : ''})`,
    );
  }

  send(message: Buffer): void {
    if (this.ended || this.destroyed) throw new CriuUnavailableError(this.binary, 'the CRIU worker is gone');
    this.socket.write(message);
  }

  /** The next message from CRIU; rejects if the worker closes its end first. */
  receive(): Promise<Buffer> {
    const next = this.inbox.shift();
    if (next) return Promise.resolve(next);
    if (this.ended) return this.closedError().then((e) => Promise.reject(e));
    if (this.waiter) return Promise.reject(new Error('CriuWorker.receive: a receive is already pending'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /**
   * Closes ferry's end and waits for CRIU (and the shell around it) to exit. CRIU's swrk exits on
   * its own once the socket closes; after `graceMs` it is killed, which only ever happens when it
   * is stuck outside any request (requests are awaited before close()).
   */
  async close(graceMs = 10000): Promise<WorkerExit> {
    if (!this.destroyed) {
      this.destroyed = true;
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          this.socket.destroy();
          resolve();
        }),
      );
    }
    if (this.exit) return this.exit;
    const timer = setTimeout(() => {
      // The shell's CRIU first: killing the shell alone left a stuck `criu restore` behind for good
      // (seen after a failed lazy restore of a pid namespace). Not the shell's other children:
      // those are restored tasks.
      killCriuChildren(this.child.pid);
      this.child.kill('SIGKILL');
      // A CRIU stuck past the shell's death still holds the stderr pipe: let go of it, or ferry
      // itself could never exit.
      this.child.stderr?.destroy();
      this.child.unref();
    }, graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** SIGKILLs the children of `shellPid` that are CRIU itself (comm "criu"). */
function killCriuChildren(shellPid: number | undefined): void {
  if (!shellPid) return;
  let children: string[];
  try {
    children = fs.readFileSync(`/proc/${shellPid}/task/${shellPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return;
  }
  for (const pid of children) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'criu') process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}
