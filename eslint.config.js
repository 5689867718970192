// @ts-check
// Lint rules that guard correctness, not taste:
// - floating promises are errors everywhere (a dropped promise is a lost failure);
// - workflow code stays deterministic: no Node built-ins, no I/O modules, no host-only SDK
//   packages, and ferry's own I/O layers only as types (workflows import activity *types*);
// - src/criu imports no higher layer: what it needs from one (the host policy) is a port it
//   declares (criu/target-guard.ts), so the folders never import each other in a circle.
const js = require('@eslint/js');
const globals = require('globals');
const tseslint = require('typescript-eslint');
const { builtinModules } = require('node:module');

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

module.exports = tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'coverage/**', 'infra/lab/cache/**'] },
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
    // Scripts, benchmarks, the lab guest's programs and config files: plain CommonJS run by node,
    // type-checked through their JSDoc (tsconfig.js.json), so the same promise rules apply.
    files: ['**/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: globals.node,
      parserOptions: { project: './tsconfig.js.json', tsconfigRootDir: __dirname },
    },
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
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
  {
    // `make test-unit` must run anywhere, with nothing installed or running: a test that starts a
    // program or a server belongs in test/integration or test/workflow.
    files: ['test/unit/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...['child_process', 'worker_threads', 'cluster']
              .flatMap((m) => [m, `node:${m}`])
              .map((name) => ({ name, message: 'test/unit starts no process: tests that run programs belong in test/integration.' })),
            { name: '@temporalio/testing', importNames: ['TestWorkflowEnvironment'], message: 'A Temporal test server belongs in test/workflow (test/helpers/workflow-env.ts).' },
          ],
          patterns: [
            {
              group: ['**/helpers/minio', '**/helpers/temporal', '**/helpers/workflow-env', '**/helpers/pipeline-harness', '**/fixtures/workload/*', '**/fixtures/shell-job'],
              message: 'This helper starts processes or servers: its tests belong in test/integration or test/workflow.',
            },
            { group: ['../integration/*', '../workflow/*', '../replay/*'], message: 'Code tests share lives in test/helpers.' },
          ],
        },
      ],
    },
  },
  {
    files: ['test/integration/**/*.ts', 'test/workflow/**/*.ts', 'test/replay/**/*.ts', 'test/helpers/**/*.ts', 'test/fixtures/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/unit/*'], message: 'Code tests share lives in test/helpers, not in test/unit.' }] }],
    },
  },
  {
    // src/core is what workflows may import at run time: pure rules, nothing that does I/O.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'src/core is pure: no Node built-ins.' })),
          patterns: [
            // Folders outside core are checked by test/unit/architecture.test.ts.
            { regex: '^[^.]', message: 'src/core imports no package: it must stay pure for workflow code.' },
          ],
        },
      ],
    },
  },
);
