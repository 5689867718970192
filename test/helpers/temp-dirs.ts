import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const tempRoots: string[] = [];

/** A fresh directory under the system temp dir, removed by removeTempRoots() (call it in afterAll). */
export function tempRoot(tag: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ferry-${tag}-`));
  tempRoots.push(dir);
  return dir;
}

export function removeTempRoots(): void {
  for (const d of tempRoots.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}
