#!/usr/bin/env node
// Builds native/ferry_native.c into build/ferry_native.node with the system C compiler.
// No node-gyp: the addon is one file, and node-gyp would try to download headers
// that ship with Node already (<prefix>/include/node), which an offline host cannot do.
// @ts-check
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const source = path.join(root, 'native', 'ferry_native.c');
const output = path.join(root, 'build', 'ferry_native.node');
const headerDirs = /** @type {string[]} */ ([
  process.env.FERRY_NODE_INCLUDE,
  path.resolve(path.dirname(process.execPath), '..', 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
].filter(Boolean));
const headers = headerDirs.find((dir) => fs.existsSync(path.join(dir, 'node_api.h')));
if (!headers) {
  console.error(
    `build-native: node_api.h not found in ${headerDirs.join(', ')}.\n` +
      'Install the Node.js headers that match this node, or set FERRY_NODE_INCLUDE to their directory.',
  );
  process.exit(1);
}
const upToDate =
  fs.existsSync(output) && fs.statSync(output).mtimeMs >= fs.statSync(source).mtimeMs;
if (upToDate) process.exit(0);
fs.mkdirSync(path.dirname(output), { recursive: true });
const cc = process.env.CC || 'cc';
try {
  execFileSync(cc, ['-O2', '-Wall', '-shared', '-fPIC', '-DNODE_GYP_MODULE_NAME=ferry_native',
    `-I${headers}`, '-o', output, source], { stdio: 'inherit' });
} catch (err) {
  console.error(`build-native: ${cc} failed (${err instanceof Error ? err.message : String(err)}); install a C compiler (apt-get install gcc).`);
  process.exit(1);
}
