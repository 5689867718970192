'use strict';
// `ferry` for the lab guest: ferry's own CLI entry (dist/cli/main.js, the same code bin/ferry.js
// runs) with every command group except the CRIU one replaced by a no-op registration.
//
// Why: the storage, dev-stack and workflow command groups load the AWS SDK and Temporal's
// protobufs when the CLI starts, even for `ferry pre-dump`. Under TCG that costs ~25 s per call
// (measured: `ferry --version` 28 s vs `node -e 0` 1.2 s), which would make the lab too slow for
// every test run. The CRIU commands load their code lazily, so they need none of it. Once the
// other groups load lazily too, set FERRY_LAB_FULL_CLI=1 (or drop this file) and the lab runs
// bin/ferry.js unchanged.
//
//   node ferry-lab.js REPO_DIR <ferry arguments...>
const Module = require('node:module');
const path = require('node:path');

const [repoDir, ...args] = process.argv.slice(2);
const cliDir = path.join(repoDir, 'dist', 'cli');

const originalLoad = Module._load;
Module._load = function load(request, parent, isMain) {
  const fromCli = parent && parent.filename && path.dirname(parent.filename) === cliDir;
  if (fromCli && /^\.\/[a-z-]+-commands$/.test(request) && request !== './criu-commands') {
    // Any register*(program) of the skipped group does nothing.
    return new Proxy({}, { get: (_t, name) => (typeof name === 'string' && name.startsWith('register') ? () => undefined : undefined) });
  }
  return originalLoad.call(this, request, parent, isMain);
};

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
