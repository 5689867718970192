/**
 * Where the tests find the real programs they drive: CRIU, MinIO and the Temporal CLI. Each can be
 * pointed at explicitly with an environment variable; otherwise the places `make system-deps`
 * installs to come first, then PATH. A missing program throws (failing the test, never skipping
 * it) with the command that installs it.
 */
import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const INSTALL_HINT = 'install it with `make system-deps`';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable among `candidates`, then `name` on PATH; null when there is none. */
function firstExecutable(name: string, candidates: Array<string | undefined>): string | null {
  const onPath = (process.env.PATH ?? '').split(':').filter(Boolean).map((dir) => path.join(dir, name));
  for (const c of [...candidates, ...onPath]) if (c && isExecutable(c)) return c;
  return null;
}

export function findCriu(): string {
  const found = firstExecutable('criu', [process.env.FERRY_CRIU, '/usr/local/sbin/criu', '/usr/sbin/criu']);
  if (!found) throw new Error(`CRIU not found (looked in FERRY_CRIU, /usr/local/sbin, /usr/sbin, PATH); ${INSTALL_HINT}`);
  return found;
}

export function findMinio(): string {
  const found = firstExecutable('minio', [process.env.FERRY_MINIO_BINARY, '/usr/local/bin/minio', path.join(os.homedir(), 'go', 'bin', 'minio')]);
  if (!found) throw new Error(`minio binary not found (looked in FERRY_MINIO_BINARY, /usr/local/bin, ~/go/bin, PATH); ${INSTALL_HINT}`);
  return found;
}

/** The Temporal CLI, which runs the dev servers of the workflow and fault tests. */
export function findTemporal(): string {
  const found = firstExecutable('temporal', [process.env.FERRY_TEMPORAL_BIN, path.join(os.homedir(), 'go', 'bin', 'temporal'), '/usr/local/bin/temporal']);
  if (!found) throw new Error(`the Temporal CLI (\`temporal\`) is not installed (looked in FERRY_TEMPORAL_BIN, ~/go/bin, /usr/local/bin, PATH); ${INSTALL_HINT}`);
  return found;
}
