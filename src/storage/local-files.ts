/**
 * Local side of a layer: which files of an images dir are stored, and their SHA-256.
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { LocalLayerInvalid } from '../core';
import { hashForUpload } from './upload-hashes';
import { isValidLayerFileName } from './manifest';

export interface LocalFile {
  name: string;
  path: string;
  size: number;
}

/**
 * The regular files of an images dir, sorted by name. `parent` (CRIU's link to the previous
 * layer) is not a file of the layer, and dot-files are ferry's own partial downloads.
 */
export async function listLayerFiles(dir: string): Promise<LocalFile[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new LocalLayerInvalid(dir, `cannot be listed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  const files: LocalFile[] = [];
  for (const e of entries) {
    if (e.name === 'parent' || e.name.startsWith('.')) continue;
    if (!e.isFile()) throw new LocalLayerInvalid(dir, `${e.name} is not a regular file (CRIU images dirs hold only files and a parent link)`);
    if (!isValidLayerFileName(e.name)) throw new LocalLayerInvalid(dir, `${JSON.stringify(e.name)} is not a CRIU image file name`);
    const p = path.join(dir, e.name);
    const st = await lstat(p);
    files.push({ name: e.name, path: p, size: st.size });
  }
  if (files.length === 0) throw new LocalLayerInvalid(dir, 'it holds no image files');
  return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function sha256File(file: string, signal?: AbortSignal): Promise<{ sha256: string; size: number }> {
  // The upload's hashing pass with no parts to cut: one read, the same digest.
  const { sha256, size } = await hashForUpload(file, 0, 0, signal);
  return { sha256, size };
}

/** Runs fn over items with at most `limit` at once; the first failure stops new starts and is rethrown once all running ones settle. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { err: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (failure === null && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (err) {
        if (failure === null) failure = { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== null) throw (failure as { err: unknown }).err;
  return results;
}
