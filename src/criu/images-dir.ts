/**
 * The images dirs of a step: the new layer's dir (absent or empty, created 0700) and the previous
 * layer's dir (an existing pre-dump of the same process). Also the clean-up after a failed step:
 * partial images go, CRIU's log stays for diagnosis, and a retry into the same dir is accepted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { findNewerLayers } from './chain';
import { ImagesDirNotEmptyError, ParentImagesInvalidError, ImagesInvalidError, isError } from '../core';
import { readLayer, type LayerInfo } from './images';
import { readLayerRecord } from './layer-record';
import type { ProcessIdentity } from './types';

/** Only CRIU logs of an earlier failed attempt: a retry into the same dir may replace them. */
const LEFTOVER_LOG = /^(dump|pre-dump|restore|page-server)\.log$/;

export interface PreparedDir {
  dir: string;
  /** ferry created it (and removes it again if the step never reached CRIU). */
  created: boolean;
  /** The mode an existing empty dir had before ferry made it 0700 (restored if the step never reached CRIU). */
  previousMode?: number;
  /** The outermost missing ancestor ferry created on the way (removed again with the dir). */
  createdParent?: string;
}

/** Images hold a process's whole memory: dirs are 0700, files 0600, whatever the umask. */
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

/** Makes sure `dirArg` is a new or empty directory (creating it 0700) and returns its absolute path. */
export function prepareImagesDir(dirArg: string): PreparedDir {
  const dir = path.resolve(dirArg);
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      const createdParent = fs.mkdirSync(path.dirname(dir), { recursive: true, mode: DIR_MODE });
      fs.mkdirSync(dir, { mode: DIR_MODE });
      fs.chmodSync(dir, DIR_MODE);
      return { dir, created: true, ...(createdParent !== undefined ? { createdParent } : {}) };
    }
    if (code === 'ENOTDIR') {
      const itself = fs.existsSync(dir) ? 'it is a file, not a directory' : 'a parent of it is a file, not a directory';
      throw new ImagesDirNotEmptyError(dir, [`(${itself})`], { cause: err });
    }
    throw err;
  }
  const real = entries.filter((name) => !LEFTOVER_LOG.test(name));
  if (real.length > 0) throw new ImagesDirNotEmptyError(dir, real.sort());
  for (const name of entries) fs.rmSync(path.join(dir, name), { force: true });
  const mode = fs.statSync(dir).mode & 0o7777;
  if (mode !== DIR_MODE) fs.chmodSync(dir, DIR_MODE);
  return { dir, created: false, ...(mode !== DIR_MODE ? { previousMode: mode } : {}) };
}

/**
 * After CRIU wrote a layer: the dir 0700 and every file in it 0600. CRIU already creates them so
 * under ferry (its worker runs with umask 077, see transport.ts); this holds even for files
 * another tool or an older CRIU put there.
 */
export function tightenImagesDir(dir: string): void {
  // Never throws: after a final dump these images are the only copy of the process, and a step
  // that reports failure here would have it treated as lost. A failure is said on stderr.
  try {
    fs.chmodSync(dir, DIR_MODE);
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isFile()) continue; // the `parent` symlink has no mode of its own
      const file = path.join(dir, entry.name);
      if ((fs.lstatSync(file).mode & 0o077) !== 0) fs.chmodSync(file, FILE_MODE);
    }
  } catch (err) {
    process.stderr.write(`ferry: warning: could not make images in ${dir} private (0700/0600): ${(err as Error).message}\n`);
  }
}

/** Undoes prepareImagesDir when the step stopped before CRIU wrote anything. */
export function releaseImagesDir(prepared: PreparedDir): void {
  if (!prepared.created) {
    if (prepared.previousMode !== undefined) {
      try {
        fs.chmodSync(prepared.dir, prepared.previousMode);
      } catch {
        // gone or not ours any more: nothing to give back
      }
    }
    return;
  }
  // Bad input changes nothing: the dir and every ancestor ferry created for it go again.
  const stop = prepared.createdParent ? path.dirname(prepared.createdParent) : path.dirname(prepared.dir);
  for (let d = prepared.dir; d !== stop && d.length > stop.length; d = path.dirname(d)) {
    try {
      fs.rmdirSync(d);
    } catch {
      return; // not empty after all (someone else put something there): leave it
    }
  }
}

/** After a failed CRIU step: remove partial images (so the layer cannot be mistaken for a good one), keep logs. */
export function discardPartialImages(dir: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of entries) {
    if (name.endsWith('.log')) continue;
    fs.rmSync(path.join(dir, name), { force: true, recursive: true });
  }
}

/**
 * Checks that `prevArg` is a pre-dump this process can build on, before anything is frozen:
 * an images dir, a pre-dump, holding a pagemap of this pid, dumped with memory tracking after the
 * process started (CRIU's own pid-reuse test, done up front), and the newest such layer next to it.
 */
export function checkPrevImagesDir(
  prevArg: string,
  imagesDir: string,
  target: ProcessIdentity,
  ticksPerSecond = 100,
  /** The chain's pages went to a page server: a parent without any pagemap here is expected. */
  pagesElsewhere = false,
): { dir: string; layer: LayerInfo; parentImg: string } {
  const dir = path.resolve(prevArg);
  if (dir === imagesDir) throw new ParentImagesInvalidError(dir, 'it is the same directory as --images-dir; each layer needs its own');
  let layer: LayerInfo;
  try {
    if (!fs.statSync(dir).isDirectory()) throw new ParentImagesInvalidError(dir, 'it is not a directory');
    layer = readLayer(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ParentImagesInvalidError(dir, 'no such directory', { cause: err });
    if (isError(err, ImagesInvalidError)) throw new ParentImagesInvalidError(dir, err.problem, { cause: err });
    throw err;
  }
  if (layer.kind !== 'pre-dump') {
    throw new ParentImagesInvalidError(dir, 'it is a full dump, not a pre-dump; only a pre-dump can be the parent of the next layer');
  }
  if (!(pagesElsewhere && layer.pagemaps.length === 0) && !layer.pagemaps.some((m) => m.pid === target.pid)) {
    const pids = layer.pagemaps.map((m) => m.pid).join(', ') || 'none';
    throw new ParentImagesInvalidError(dir, `it is a pre-dump of pid ${pids}, not of pid ${target.pid}`);
  }
  const uptime = layer.inventory.dumpUptimeUs;
  if (uptime === null) throw new ParentImagesInvalidError(dir, 'its inventory records no dump time (not written by a memory-tracking pre-dump)');
  const startUs = (target.startTime * 1_000_000) / ticksPerSecond;
  if (startUs >= uptime) {
    throw new ParentImagesInvalidError(
      dir,
      `it was written before pid ${target.pid} (${target.comm}) started: it belongs to an earlier process that had the same pid`,
    );
  }
  // ferry's record in the parent names the exact process (start time + boot): a pid reused since is refused here.
  const read = readLayerRecord(dir);
  if (read && 'problem' in read) throw new ParentImagesInvalidError(dir, read.problem);
  if (read && (read.record.process.startTime !== target.startTime || read.record.process.bootId !== target.bootId || read.record.process.pid !== target.pid)) {
    const p = read.record.process;
    throw new ParentImagesInvalidError(
      dir,
      `it is a layer of pid ${p.pid} (${p.comm}) started at tick ${p.startTime} in boot ${p.bootId}, not of pid ${target.pid} (${target.comm}) started at tick ${target.startTime} in boot ${target.bootId}`,
    );
  }
  const nowUs = readUptimeUs();
  if (nowUs !== null && uptime > nowUs) {
    throw new ParentImagesInvalidError(dir, 'it was written during another boot of this machine (its dump time is in the future)');
  }
  // A newer pre-dump of this pid next to it means its soft-dirty baseline is gone.
  const newer = findNewerLayers(layer, target.pid, nowUs ?? Number.MAX_SAFE_INTEGER, [imagesDir]);
  if (newer.length > 0) {
    throw new ParentImagesInvalidError(
      dir,
      `it is not the latest pre-dump of pid ${target.pid}: ${newer.join(', ')} came after it and reset the soft-dirty bits; ` +
        `use --prev-images-dir ${newer[newer.length - 1]}`,
    );
  }
  return { dir, layer, parentImg: path.relative(imagesDir, dir) };
}

/** /proc/uptime in microseconds (the clock CRIU stamps dump_uptime with). */
export function readUptimeUs(): number | null {
  try {
    const first = fs.readFileSync('/proc/uptime', 'utf8').split(/\s+/)[0] ?? '';
    const seconds = Number(first);
    return Number.isFinite(seconds) ? Math.round(seconds * 1_000_000) : null;
  } catch {
    return null;
  }
}
