/**
 * CRIU's page server on the receiving host: it listens, takes the memory pages of ONE dump or
 * pre-dump (`ferry dump --page-server`) into its images dir, and exits when that dump's connection
 * closes. The other image files stay with the dump; copy them next to the pages to restore.
 *
 * It runs as a child of its own `criu swrk` worker (PAGE_SERVER_CHLD, not PAGE_SERVER's daemon),
 * so WAIT_PID can report its exit status: the only word on whether the pages arrived whole.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CriuFailedError, ImagesInvalidError, ParentImagesInvalidError } from '../core';
import { mainCause, readLogTail } from './criu-log';
import { binaryName, classifyFailure, openDir, startClient, type DriverOptions } from './driver';
import { discardPartialImages, prepareImagesDir, releaseImagesDir, tightenImagesDir } from './images-dir';
import { CriuRequestFailed, type CriuOpts } from './rpc-client';
import type { PageServerRequest, PageServerResult } from './types';

export const PAGE_SERVER_LOG = 'page-server.log';

export interface RunningPageServer {
  /** The page server process (a child of ferry's CRIU worker). */
  pid: number;
  /** The address it listens on; absent: every IPv4 address. */
  address?: string;
  port: number;
  imagesDir: string;
  /** Settles when the page server exits: with what it received, or with why it failed. */
  finished: Promise<PageServerResult>;
}

/**
 * A page server's --prev-images-dir holds only the previous pre-dump's pages (its other files
 * stayed with the dump): it must be another dir with a pagemap in it.
 */
function checkPageServerParent(prevArg: string, imagesDir: string): string {
  const dir = path.resolve(prevArg);
  if (dir === imagesDir) throw new ParentImagesInvalidError(dir, 'it is the same directory as --images-dir; each pre-dump needs its own');
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    throw new ParentImagesInvalidError(dir, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (err as Error).message, { cause: err });
  }
  if (!names.some((n) => /^pagemap-\d+\.img$/.test(n))) {
    throw new ParentImagesInvalidError(dir, 'it holds no pagemap-*.img: it is not the dir a page server received a pre-dump into');
  }
  return path.relative(imagesDir, dir);
}

/** Starts the page server and resolves once it listens (its `finished` then runs on). */
export async function startPageServer(req: PageServerRequest, opts: DriverOptions = {}): Promise<RunningPageServer> {
  opts.policy?.checkImagesDir('dump', req.imagesDir, 'page server images dir');
  if (req.prevImagesDir) opts.policy?.checkImagesDir('dump', req.prevImagesDir, 'page server parent images dir');
  const prepared = prepareImagesDir(req.imagesDir);
  const dir = prepared.dir;
  const logFile = path.join(dir, PAGE_SERVER_LOG);
  let started: { pid: number; port: number };
  let client;
  try {
    const parentImg = req.prevImagesDir ? checkPageServerParent(req.prevImagesDir, dir) : undefined;
    client = (await startClient(binaryName(opts))).client;
    const dirFd = openDir(dir);
    const criuOpts: CriuOpts = {
      images_dir_fd: dirFd,
      log_file: PAGE_SERVER_LOG,
      log_level: opts.logLevel ?? 2,
      ps: { ...(req.address ? { address: req.address } : {}), port: req.port },
      ...(parentImg ? { parent_img: parentImg } : {}),
    };
    try {
      started = await client.pageServerChild(criuOpts);
    } finally {
      fs.closeSync(dirFd);
    }
  } catch (err) {
    await client?.close();
    // Nothing was received: leave no trace but CRIU's log (kept for diagnosis).
    if (!fs.existsSync(logFile)) releaseImagesDir(prepared);
    if (err instanceof CriuRequestFailed) throw classifyFailure('PAGE_SERVER_CHLD', err, logFile, {});
    throw err;
  }
  const worker = client;
  const finished = (async (): Promise<PageServerResult> => {
    let status: number;
    try {
      status = await worker.waitPid(started.pid);
    } catch (err) {
      discardPartialImages(dir);
      if (err instanceof CriuRequestFailed) throw classifyFailure('WAIT_PID', err, logFile, {});
      throw err;
    } finally {
      await worker.close();
    }
    // A wait(2) status: exited normally when the low 7 bits are 0, the exit code in the next 8.
    const code = (status & 0x7f) === 0 ? (status >> 8) & 0xff : null;
    if (code !== 0) {
      discardPartialImages(dir);
      const how = code === null ? `was killed by signal ${status & 0x7f}` : `exited with status ${code}`;
      const tail = readLogTail(logFile);
      throw new CriuFailedError('PAGE_SERVER_CHLD', null, tail, fs.existsSync(logFile) ? logFile : null,
        `The page server ${how}: the dump that sent its pages failed or its connection broke, and the pages received were discarded. ` +
          'Start the page server again, then dump again (a failed dump leaves the process running).', { mainCause: mainCause(tail) });
    }
    tightenImagesDir(dir);
    return summarize(dir);
  })();
  // The caller may only look at `finished` later; a failure must not count as unhandled meanwhile.
  finished.catch(() => undefined);
  return { pid: started.pid, port: started.port, imagesDir: dir, finished, ...(req.address ? { address: req.address } : {}) };
}

function summarize(dir: string): PageServerResult {
  const files = fs.readdirSync(dir).filter((n) => /^(pagemap|pages)-\d+\.img$/.test(n)).sort();
  if (files.length === 0) throw new ImagesInvalidError(dir, 'the page server exited without receiving any pages (did a dump connect to it?)', { isDir: true });
  const pagesBytes = files.filter((n) => n.startsWith('pages-')).reduce((sum, n) => sum + fs.statSync(path.join(dir, n)).size, 0);
  return { imagesDir: dir, pagesBytes, files };
}
