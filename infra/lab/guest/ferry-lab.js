// @ts-check
'use strict';
// `ferry` for the lab guest, opt-in with "cliShim": true in job.json: ferry's own CLI entry
// (dist/cli/main.js, the same code bin/ferry.js runs) with every command group except the CRIU
// one replaced by a no-op registration.
//
// Why it exists: when a command group loads heavy dependencies (the AWS SDK, Temporal's
// protobufs) at module load, every `ferry` call pays for it, even `ferry pre-dump`. Under TCG that
// cost ~25 s per call (measured: `ferry --version` 28 s vs `node -e 0` 1.2 s). The command groups
// now load lazily and the lab runs bin/ferry.js; this shim is the fallback if that regresses.
//
//   node ferry-lab.js REPO_DIR <ferry arguments...>
const Module = require('node:module');
const path = require('node:path');

const [repoDir, ...args] = process.argv.slice(2);
const cliDir = path.resolve(repoDir, 'dist', 'cli');

// Module._load is Node's internal loader entry (not in @types/node): every require() passes through it.
/** @typedef {(request: string, parent: NodeJS.Module | undefined, isMain: boolean) => unknown} Load */
const loader = /** @type {{ _load: Load }} */ (/** @type {unknown} */ (Module));
const originalLoad = loader._load;
/** @type {Load} */
loader._load = function load(request, parent, isMain) {
  const fromCli = parent && parent.filename && path.dirname(parent.filename) === cliDir;
  if (fromCli && /^\.\/[a-z-]+-commands$/.test(request) && request !== './criu-commands') {
    // Any register*(program) of the skipped group does nothing.
    return new Proxy({}, { get: (_t, name) => (typeof name === 'string' && name.startsWith('register') ? () => undefined : undefined) });
  }
  return originalLoad.call(this, request, parent, isMain);
};

/** @type {{ main(argv: string[]): Promise<number> }} */
const { main } = require(path.join(cliDir, 'main.js'));
main(['node', 'ferry', ...args]).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`ferry-lab: ${err && err.stack}\n`);
    process.exitCode = 70;
  },
);
