// Lets plain `node` run ferry's TypeScript sources (bench scripts, test child processes) without a
// build step: each .ts file is transpiled on require with the project's own TypeScript (no type
// check; `npx tsc --noEmit` does that). Use: node -r ./bench/storage-ts-register.js file.ts
// @ts-check
'use strict';
const fs = require('node:fs');
const ts = require('typescript');

/**
 * @param {NodeJS.Module} module
 * @param {string} filename
 */
require.extensions['.ts'] = function compileTs(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const out = ts.transpileModule(source, {
    fileName: filename,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      sourceMap: false,
      inlineSourceMap: true,
    },
  });
  // _compile is Node's own loader step (not in @types/node): it runs the source as this module.
  /** @type {NodeJS.Module & { _compile(source: string, filename: string): void }} */ (module)._compile(out.outputText, filename);
};
