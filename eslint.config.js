// Lint rules that guard correctness, not taste:
// - floating promises are errors everywhere (a dropped promise is a lost failure);
// - workflow code stays deterministic: no Node built-ins, no I/O modules, no host-only SDK
//   packages, and ferry's own I/O layers only as types (workflows import activity *types*);
// - src/criu imports no higher layer: what it needs from one (the host policy) is a port it
//   declares (criu/target-guard.ts), so the folders never import each other in a circle.
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const { builtinModules } = require('node:module');

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

module.exports = tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'coverage/**', 'infra/lab/cache/**', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: __dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/criu/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../policy', '../policy/*', '../activities', '../activities/*', '../worker', '../worker/*', '../cli', '../cli/*'],
              message: 'criu/ imports no higher layer: declare a port here (see target-guard.ts) and let the worker or the CLI wire the implementation in.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflow code must be deterministic: no Node built-ins.' })),
          patterns: [
            { group: ['@temporalio/worker', '@temporalio/client', '@temporalio/activity', '@temporalio/testing'], message: 'Workflows may import only @temporalio/workflow and @temporalio/common.' },
            { group: ['@aws-sdk/*', 'protobufjs', 'node-unix-socket', 'commander'], message: 'No I/O libraries in workflow code.' },
            { group: ['../criu/*', '../storage/*', '../worker/*', '../cli/*', '../config/*'], allowTypeImports: true, message: 'Workflows import other layers as types only.' },
            { group: ['../activities/*', '../activities'], allowTypeImports: true, message: 'Workflows import activities as types only (proxyActivities).' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'No process state in workflows: pass it in the workflow input.' },
        { name: 'require', message: 'No dynamic require in workflows.' },
        { name: 'setInterval', message: 'Use workflow sleep/condition instead of timers that never end.' },
        { name: 'fetch', message: 'No I/O in workflows: do it in an activity.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Use uuid4() from @temporalio/workflow for deterministic ids.' },
      ],
    },
  },
);
