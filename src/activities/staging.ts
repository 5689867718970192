/**
 * Layout of one host's staging dir, and the guard that keeps every delete inside it:
 *
 *   <staging>/checkpoints/<id>/layer-<N>/        images of layer N (CRIU writes here)
 *   <staging>/checkpoints/<id>/layer-<N>.json    the LayerDump of a finished dump (retry marker)
 *   <staging>/downloads/<checkpointId>-<id>/     a downloaded chain, ready to restore
 *   <staging>/warm-chains.json                   warm chains of this host's processes
 *
 * Markers live next to, not inside, the images dir: everything inside is uploaded as the layer.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { OutsideStaging } from '../core';

export class StagingLayout {
  constructor(readonly root: string) {}

  checkpointDir(checkpointId: string): string {
    return this.inside(path.join(this.root, 'checkpoints', checkpointId));
  }

  layerDir(checkpointId: string, index: number): string {
    return path.join(this.checkpointDir(checkpointId), `layer-${index}`);
  }

  layerMarker(checkpointId: string, index: number): string {
    return `${this.layerDir(checkpointId, index)}.json`;
  }

  restoreMarker(imagesDir: string): string {
    return `${this.inside(imagesDir)}.restored.json`;
  }

  downloadDir(checkpointId: string, downloadId: string): string {
    const safe = downloadId.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
    return this.inside(path.join(this.root, 'downloads', `${checkpointId}-${safe}`));
  }

  warmRecord(): string {
    return path.join(this.root, 'warm-chains.json');
  }

  /** Resolves `p` and refuses anything outside the staging root (or the root itself). */
  inside(p: string): string {
    const resolved = path.resolve(p);
    const rel = path.relative(this.root, resolved);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new OutsideStaging(
        `refusing to touch ${resolved}: it is not inside this host's staging dir ${this.root}`,
      );
    }
    return resolved;
  }

  async remove(p: string): Promise<void> {
    await fs.rm(this.inside(p), { recursive: true, force: true });
  }
}

export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    if (entry.isFile()) total += (await fs.stat(path.join(dir, entry.name))).size;
  }
  return total;
}

export async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Staging holds process memory: the worker makes its dirs for root only (0700) and its markers
 * readable by root only (0600), whatever the umask.
 */
export const STAGING_DIR_MODE = 0o700;
export const STAGING_FILE_MODE = 0o600;

export async function makeStagingDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: STAGING_DIR_MODE });
}

/** Write-then-rename, so a crash never leaves a half-written marker that looks valid. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await makeStagingDir(path.dirname(file));
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, JSON.stringify(value, null, 2), { mode: STAGING_FILE_MODE });
  await fs.rename(tmp, file);
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}
