#!/usr/bin/env bash
# `make demo`: ferry on the embedded default (the local dev stack), step by step.
# Runs after `make install` (installers + build). Leaves the dev stack running so its web UIs
# can be explored; `ferry dev down` (or `make dev-down`) stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

ferry() { node bin/ferry.js "$@"; }
step() { printf '\n== %s\n' "$*"; }

step "dev stack: Temporal dev server and MinIO on 127.0.0.1 (ferry dev up)"
ferry dev up

step "CRIU on this host (ferry check)"
ferry check

step "what runs where (ferry dev status)"
ferry dev status

step "settings for other shells and tools (ferry dev env; secrets stay in the credentials file)"
ferry dev env

printf '\nThe dev stack keeps running (web UIs above); stop it with: node bin/ferry.js dev down\n'
