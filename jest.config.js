// @ts-check
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  setupFiles: ['<rootDir>/test/setup-env.js'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
  // Integration tests drive real CRIU, a real Temporal server and real MinIO: they are slow
  // by nature and share machine-wide resources (pids, ports), so they run one file at a time.
  maxWorkers: 1,
  testTimeout: 120000,
};
