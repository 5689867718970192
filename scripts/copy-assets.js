#!/usr/bin/env node
// tsc copies only TypeScript output; the .proto schemas are loaded at run time, so they go along.
// @ts-check
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
/** @param {string} fromDir @param {string} toDir @param {string} suffix */
function copyMatching(fromDir, toDir, suffix) {
  if (!fs.existsSync(fromDir)) return;
  for (const entry of fs.readdirSync(fromDir, { withFileTypes: true })) {
    const from = path.join(fromDir, entry.name);
    const to = path.join(toDir, entry.name);
    if (entry.isDirectory()) copyMatching(from, to, suffix);
    else if (entry.name.endsWith(suffix)) {
      fs.mkdirSync(toDir, { recursive: true });
      fs.copyFileSync(from, to);
    }
  }
}
copyMatching(path.join(root, 'src'), path.join(root, 'dist'), '.proto');
