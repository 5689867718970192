#!/usr/bin/env node
// Prints the run's closing line ("N passed, N failed, N skipped") from jest's JSON report.
// Under CI=true a skipped test fails the run: in CI every component must be present.
// @ts-check
'use strict';
const fs = require('node:fs');

const report = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const passed = report.numPassedTests;
const failed = report.numFailedTests + (report.numRuntimeErrorTestSuites || 0);
const skipped = report.numPendingTests + report.numTodoTests;
if (report.numTotalTests === 0) {
  console.error('summarize-tests: no test ran');
  process.exit(1);
}
console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (process.env.CI === 'true' && skipped > 0) {
  console.error(`summarize-tests: ${skipped} test(s) skipped; under CI every test must run`);
  process.exit(1);
}
process.exit(failed > 0 || !report.success ? 1 : 0);
