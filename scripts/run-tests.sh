#!/usr/bin/env bash
# Runs every test (unit, workflow, integration against the real dev stack and real CRIU, replay),
# starting the dev stack if it is not already running and stopping it again if it started it.
set -euo pipefail
cd "$(dirname "$0")/.."

ferry() { node bin/ferry.js "$@"; }
started_stack=0
if ! ferry dev status >/dev/null 2>&1; then started_stack=1; fi
# Always: `up` is idempotent, and it (re)writes the dev stack's host policy that root workers need.
ferry dev up
cleanup() { if [ "$started_stack" = 1 ]; then ferry dev down || true; fi; }
trap cleanup EXIT

results="$(mktemp -t ferry-jest-XXXXXX.json)"
status=0
npx jest --ci --json --outputFile="$results" "$@" || status=$?
node scripts/summarize-tests.js "$results" || status=$?
rm -f "$results"
exit "$status"
