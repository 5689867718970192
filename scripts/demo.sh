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

# ---- the durable pipeline (issue 5): two simulated hosts on this machine, a workload migrated
# between them through Temporal workflows and MinIO, memory verified before and after.
demo_dir="$(mktemp -d -t ferry-demo-XXXXXX)"
worker_pids=()
workload_pid=""
cleanup_pipeline() {
  if [ -n "$workload_pid" ] && kill -0 "$workload_pid" 2>/dev/null; then kill "$workload_pid" 2>/dev/null || true; fi
  for p in "${worker_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${worker_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$demo_dir"
}
trap cleanup_pipeline EXIT

verify_memory() { # asks the workload to check every page; prints its verdict line
  local before after
  before="$(cat "$demo_dir/verify.json" 2>/dev/null || true)"
  kill -USR1 "$1"
  for _ in $(seq 1 200); do
    after="$(cat "$demo_dir/verify.json" 2>/dev/null || true)"
    if [ -n "$after" ] && [ "$after" != "$before" ]; then echo "$after"; return 0; fi
    sleep 0.05
  done
  echo "no answer from pid $1" >&2; return 1
}

step "two ferry workers on this machine, as hosts demo-a and demo-b (ferry worker --host ...)"
for h in demo-a demo-b; do
  node bin/ferry.js worker --host "$h" >"$demo_dir/worker-$h.log" 2>&1 &
  worker_pids+=("$!")
done
for h in demo-a demo-b; do
  for _ in $(seq 1 600); do grep -q 'ready' "$demo_dir/worker-$h.log" 2>/dev/null && break; sleep 0.1; done
  grep 'ready' "$demo_dir/worker-$h.log" || { echo "worker $h did not start:"; cat "$demo_dir/worker-$h.log"; exit 1; }
done

step "a sample workload: 64 MiB of known memory, 1% of its pages rewritten every 100 ms"
workload_bin="$(bash test/fixtures/workload/build.sh)"
"$workload_bin" --pidfile "$demo_dir/workload.pid" --result "$demo_dir/verify.json" --mib 64 --dirty-permille 10 --interval-ms 100
for _ in $(seq 1 100); do [ -s "$demo_dir/workload.pid" ] && break; sleep 0.05; done
workload_pid="$(cat "$demo_dir/workload.pid")"
echo "workload running as pid $workload_pid"
echo "memory check before: $(verify_memory "$workload_pid")"

step "migrate it from demo-a to demo-b (ferry migrate --wait): pre-dumps where the kernel allows, final dump, restore"
ferry migrate --pid "$workload_pid" --from demo-a --to demo-b --wait --json >"$demo_dir/migrate.json"
new_pid="$(node -e 'const r=require(process.argv[1]); console.log(r.newPid)' "$demo_dir/migrate.json")"
workflow_id="$(node -e 'const r=require(process.argv[1]); console.log(r.workflowId)' "$demo_dir/migrate.json")"
ferry status "$workflow_id"

step "is it still running, with its memory intact?"
kill -0 "$new_pid" && echo "pid $new_pid is running (restored by host demo-b)"
verdict="$(verify_memory "$new_pid")"
echo "memory check after: $verdict"
node -e 'const v=JSON.parse(process.argv[1]); if(!v.ok||v.bad!==0){console.error("MEMORY CHECK FAILED");process.exit(1)} console.log(`all ${v.pages} pages intact`)' "$verdict"
workload_pid="$new_pid"

printf '\nDone. Workers and workload are stopped now; the dev stack keeps running.\n'
printf 'The checkpoint it made stays in the dev bucket: `ferry checkpoints ls` shows it, `ferry dev reset`\n'
printf "removes the dev stack's checkpoints and schedules (and \`ferry dev down\` stops the stack).\n"
