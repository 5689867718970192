#!/usr/bin/env node
// @ts-check
'use strict';
// The `ferry` command. The compiled CLI lives in dist/ (built by `npm install` / `npm run build`).
const path = require('node:path');
const fs = require('node:fs');

// The AWS SDK warns on every client about Node 20's support window; ferry pins Node 20 knowingly,
// and the warning would drown the output of every command that touches storage.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// `ferry ... | head` closes the pipe early: that is the reader's choice, not an error of ferry's.
process.stdout.on('error', (err) => {
  if (err && err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

const entry = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  console.error('ferry: not built yet. Run `npm install` (or `npm run build`) in ' + path.join(__dirname, '..'));
  process.exit(70);
}
/** @type {{ main(argv: string[]): Promise<number> }} */
const cli = require(entry);
cli.main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err && err.stack ? err.stack : String(err)); process.exitCode = 70; },
);
