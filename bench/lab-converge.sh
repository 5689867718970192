#!/usr/bin/env bash
# Catch-up rounds against the final dump they replace (docs/lab.md, infra/lab/guest/converge-task.js):
# in one soft-dirty lab boot, per workload size and dirty rate, the frozen time of a full dump, of
# the final dump after two pre-dumps and the upload pause (ferry before catch-up rounds), and of the
# final dump after catch-up rounds decided by ferry's own rules, side by side on one workload.
# Writes bench/results/<out>.md and <out>-raw.json.
#
# Options (defaults in brackets): --sizes "256 1024" (MiB), --permille "1 5 20" (pages dirtied per
# interval, per mille), --interval-ms 200, --repeats 3, --upload-mibps 170 (the upload rate the pause
# stands for), --out converge.
# Environment: FERRY_LAB_MEM (default 8G here; the images live in the guest's RAM: give 4x the
# largest size for a dirty rate of 2%, 3.5x at lower rates), FERRY_LAB_TIMEOUT
# (default 5400 here).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=infra/lab/lib.sh
source "$repo/infra/lab/lib.sh"

sizes="256 1024"
permille="1 5 20"
interval=200
repeats=3
upload=170
out=converge
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=$2; shift ;;
    --permille) permille=$2; shift ;;
    --interval-ms) interval=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --upload-mibps) upload=$2; shift ;;
    --out) out=$2; shift ;;
    *) lab_die "unknown option $1 (see the header of $0)" ;;
  esac
  shift
done
list() { printf '%s\n' $1 | paste -sd, -; }

[ -f "$repo/dist/cli/main.js" ] || lab_die "ferry is not built; run 'make build' first"
guest=$(bash "$repo/infra/lab/build-guest.sh")
workload=$(bash "$repo/test/fixtures/workload/build.sh" --static)
share=$(mktemp -d /tmp/ferry-lab-converge-XXXXXX)
lab_remove_on_success "$share"
cp "$workload" "$share/workload"

cat >"$share/job.json" <<JSON
{"tasks":[{"kind":"check"},
  {"kind":"converge","sizesMiB":[$(list "$sizes")],"dirtyPermille":[$(list "$permille")],"intervalMs":$interval,
   "repeats":$repeats,"uploadMiBps":$upload,"thp":"madvise"}]}
JSON

load=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(lab_now_ms)
export FERRY_LAB_MEM=${FERRY_LAB_MEM:-8G}
FERRY_LAB_TIMEOUT=${FERRY_LAB_TIMEOUT:-5400} bash "$repo/infra/lab/boot-guest.sh" "$guest" "$share"
t1=$(lab_now_ms)
mkdir -p "$repo/bench/results"
cp "$share/out/result.json" "$repo/bench/results/$out-raw.json"
node "$repo/bench/lab-converge.js" "$repo/bench/results/$out-raw.json" "$((t1 - t0))" "$load" >"$repo/bench/results/$out.md"
cat "$repo/bench/results/$out.md"
