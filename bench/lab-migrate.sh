#!/usr/bin/env bash
# Migration with real pre-dumps (docs/lab.md): `ferry migrate` between two hosts that both live in
# one soft-dirty lab guest, so CRIU pre-dumps for real, through this machine's Temporal and MinIO
# (the dev stack; started here if it is not running, and stopped again). The workflow code runs
# here (`ferry worker --no-activities`); the guest runs the two hosts' activities and `ferry
# migrate`, reaching exactly Temporal's and MinIO's ports (restricted user-mode network). Each
# run's downtime (freeze to running on the target) is compared with CRIU's own frozen + restore
# time for the same final layer, and migrations with pre-dumps with migrations without them
# (--pre-dumps 0), alternated on the same process. Writes bench/results/<out>.md and <out>-raw.json;
# the run's checkpoints are removed from the dev stack's bucket on exit.
#
# Options: --mib 128, --permille 1 (pages dirtied per interval, per mille), --interval-ms 200,
# --repeats 3 (rounds; each runs one migration per --pre-dumps value, back and forth between the
# hosts), --pre-dumps "3 3+store 0 3/0" (the variants compared; "3/0" is --pre-dumps 3 --catch-ups 0,
# ferry before catch-up rounds; "+store" adds --no-direct: the final layers through the store, ferry
# before the direct path), --out migrate-lab, --results-dir
# bench/results (test/integration/lab-migrate.test.ts points it elsewhere), --runs '[...]' (JSON:
# extra single runs after the comparison, see infra/lab/guest/migrate-task.js; default none).
# Environment: FERRY_LAB_MEM (default 3G here), FERRY_LAB_TIMEOUT (default 3600 here).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=infra/lab/lib.sh
source "$repo/infra/lab/lib.sh"

mib=128
permille=1
interval=200
repeats=3
pre_dumps="3 3+store 0 3/0"
out=migrate-lab
results="$repo/bench/results"
extra_runs='[]'
while [ $# -gt 0 ]; do
  case "$1" in
    --mib) mib=$2; shift ;;
    --permille) permille=$2; shift ;;
    --interval-ms) interval=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --pre-dumps) pre_dumps=$2; shift ;;
    --out) out=$2; shift ;;
    --results-dir) results=$2; shift ;;
    --runs) extra_runs=$2; shift ;;
    *) lab_die "unknown option $1 (see the header of $0)" ;;
  esac
  shift
done

ferry() { node "$repo/bin/ferry.js" "$@"; }
# "3", "3/0" (--catch-ups 0), "3+store" (--no-direct) -> the task's variant objects, comma-separated.
variants_json() {
  node -e '
    const out = process.argv.slice(1).map((v) => {
      const m = /^(\d+)(?:\/(\d+))?(\+store)?$/.exec(v);
      if (!m) { console.error(`lab-migrate.sh: --pre-dumps variant "${v}" is not N, N/C or N+store`); process.exit(2); }
      return JSON.stringify({ preDumps: Number(m[1]), ...(m[2] !== undefined ? { catchUps: Number(m[2]) } : {}), ...(m[3] ? { direct: false } : {}) });
    });
    console.log(out.join(","));' "$@"
}
[ -f "$repo/dist/cli/main.js" ] || lab_die "ferry is not built; run 'make build' first"
guest=$(bash "$repo/infra/lab/build-guest.sh")
workload=$(bash "$repo/test/fixtures/workload/build.sh" --static)

started_stack=0
if ! ferry dev status >/dev/null 2>&1; then
  ferry dev up >&2
  started_stack=1
fi
# The dev stack's settings (endpoint, bucket, credentials file); the guest gets the same ones with
# the host's loopback replaced by the forwarded address.
eval "$(ferry dev env)"
prefix="lab-mig-$$"
export FERRY_TASK_QUEUE_PREFIX=$prefix

share=$(mktemp -d /tmp/ferry-lab-migrate-XXXXXX)
worker_pid=""
cleanup() {
  # The credentials copy goes whatever happened; the rest of the share is kept after a failure.
  rm -f "$share/aws-credentials"
  if [ -n "$worker_pid" ]; then kill "$worker_pid" 2>/dev/null || true; wait "$worker_pid" 2>/dev/null || true; fi
  # This run's checkpoints (images of the workload) would otherwise pile up in the dev stack's bucket.
  local id
  for id in $(ferry checkpoints ls --json 2>/dev/null |
    node -e 'for (const c of JSON.parse(require("fs").readFileSync(0, "utf8"))) if (c.checkpointId.startsWith(process.argv[1])) console.log(c.checkpointId)' "$prefix-" 2>/dev/null); do
    ferry checkpoints rm "$id" >/dev/null || lab_log "could not remove checkpoint $id from the dev stack"
  done
  if [ "$started_stack" = 1 ]; then ferry dev down >&2 || true; fi
}
lab_remove_on_success "$share" cleanup
cp "$workload" "$share/workload"
install -m 600 "$AWS_SHARED_CREDENTIALS_FILE" "$share/aws-credentials"

# node itself, not the ferry function: $! must be the worker's pid for the cleanup to stop it.
node "$repo/bin/ferry.js" worker --no-activities 2>"$share/workflow-worker.log" &
worker_pid=$!
for _ in $(seq 1 600); do
  grep -q 'ready:' "$share/workflow-worker.log" && break
  kill -0 "$worker_pid" 2>/dev/null || { cat "$share/workflow-worker.log" >&2; lab_die "the workflow worker exited at start"; }
  sleep 0.2
done
grep -q 'ready:' "$share/workflow-worker.log" || lab_die "the workflow worker was not ready after 120 s"

host_addr=10.0.2.100
temporal_port=${FERRY_TEMPORAL_ADDRESS##*:}
s3_port=${FERRY_S3_ENDPOINT##*:}
cat >"$share/job.json" <<JSON
{"tasks":[
  {"kind":"check"},
  {"kind":"migrate","hosts":["lab-a","lab-b"],"repeats":$repeats,"preDumps":[$(variants_json $pre_dumps)],"settleMs":2000,
   "checkpointPrefix":"$prefix","runs":$extra_runs,
   "workload":{"mib":$mib,"dirtyPermille":$permille,"intervalMs":$interval},
   "env":{"FERRY_TEMPORAL_ADDRESS":"$host_addr:$temporal_port","FERRY_TEMPORAL_NAMESPACE":"$FERRY_TEMPORAL_NAMESPACE",
          "FERRY_TASK_QUEUE_PREFIX":"$prefix","FERRY_S3_ENDPOINT":"http://$host_addr:$s3_port","FERRY_S3_ALLOW_HTTP":"true","FERRY_S3_ALLOW_UNENCRYPTED":"true",
          "FERRY_S3_REGION":"$FERRY_S3_REGION","FERRY_S3_BUCKET":"$FERRY_S3_BUCKET","FERRY_S3_PATH_STYLE":"$FERRY_S3_PATH_STYLE",
          "AWS_SHARED_CREDENTIALS_FILE":"/lab/aws-credentials","AWS_PROFILE":"$AWS_PROFILE","AWS_REGION":"$AWS_REGION",
          "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED":"true"}}
]}
JSON

t0=$(lab_now_ms)
export FERRY_LAB_MEM=${FERRY_LAB_MEM:-3G}
FERRY_LAB_HOST_PORTS="$temporal_port $s3_port" FERRY_LAB_TIMEOUT=${FERRY_LAB_TIMEOUT:-3600} \
  bash "$repo/infra/lab/boot-guest.sh" "$guest" "$share"
t1=$(lab_now_ms)
mkdir -p "$results"
cp "$share/out/result.json" "$results/$out-raw.json"
node "$repo/bench/lab-migrate-report.js" "$results/$out-raw.json" "$((t1 - t0))" "$mib" "$permille" "$interval" >"$results/$out.md"
cat "$results/$out.md"
