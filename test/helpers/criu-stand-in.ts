import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * Writes an executable that answers `--version` and `check` as CRIU does, for the cases a healthy
 * machine cannot show (old versions, failing checks, hangs). `checkScript` is the shell body of
 * `check`; its arguments are "$2" onwards.
 */
export async function writeCriuStandIn(dir: string, version: string, checkScript: string, name = 'criu'): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(
    file,
    `#!/bin/sh\ncase "$1" in\n  --version) echo "Version: ${version}"; echo "GitID: v${version}";;\n  check) ${checkScript};;\n  *) exit 9;;\nesac\n`,
    { mode: 0o755 },
  );
  return file;
}
