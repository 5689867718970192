#!/usr/bin/env bash
# Downtime benchmark in the soft-dirty lab (docs/lab.md): in one guest boot, for each workload
# size and dirty rate, the frozen time of a full `ferry dump` against the frozen time of the final
# `ferry dump --prev-images-dir` after two pre-dumps, on the same running workload. Writes the
# medians to bench/results/lab.md (raw numbers to bench/results/lab-raw.json).
#
# Options (defaults in brackets): --sizes "64 128 256" (MiB), --permille "5 20 50" (pages dirtied
# per interval, per mille), --interval-ms 200, --repeats 3, --gap-ms 1000 (pause between steps),
# --thp-row "128 5" (one extra size/rate run with transparent huge pages "always"; "" to skip),
# --drivers "library" (how each step runs: "library" calls ferry's CRIU driver from one Node
# process, "cli" runs the `ferry` command per step; "library cli" runs both), --out lab (results
# go to bench/results/<out>.md and <out>-raw.json: e.g. `--sizes "1024 4096" --out lab-large`
# keeps the smaller sizes' results of an earlier run).
# Environment: FERRY_LAB_MEM (default 2G here), FERRY_LAB_TIMEOUT (default 3600 here).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=infra/lab/lib.sh
source "$repo/infra/lab/lib.sh"

sizes="64 128 256"
permille="5 20 50"
interval=200
repeats=3
gap=1000
thp_row="128 5"
drivers="library"
out=lab
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=$2; shift ;;
    --permille) permille=$2; shift ;;
    --interval-ms) interval=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --gap-ms) gap=$2; shift ;;
    --thp-row) thp_row=$2; shift ;;
    --drivers) drivers=$2; shift ;;
    --out) out=$2; shift ;;
    *) lab_die "unknown option $1 (see the header of $0)" ;;
  esac
  shift
done
list() { printf '%s\n' $1 | paste -sd, -; }

[ -f "$repo/dist/cli/main.js" ] || lab_die "ferry is not built; run 'make build' first"
guest=$(bash "$repo/infra/lab/build-guest.sh")
workload=$(bash "$repo/test/fixtures/workload/build.sh" --static)
share=$(mktemp -d /tmp/ferry-lab-bench-XXXXXX)
lab_remove_on_success "$share"
cp "$workload" "$share/workload"

tasks='{"kind":"check"}'
for d in $drivers; do
  tasks+=",{\"kind\":\"bench\",\"driver\":\"$d\",\"thp\":\"madvise\",\"sizesMiB\":[$(list "$sizes")],\"dirtyPermille\":[$(list "$permille")],\"intervalMs\":$interval,\"repeats\":$repeats,\"gapMs\":$gap}"
done
if [ -n "$thp_row" ]; then
  read -r thp_mib thp_permille <<<"$thp_row"
  first_driver=${drivers%% *}
  tasks+=",{\"kind\":\"bench\",\"driver\":\"$first_driver\",\"thp\":\"always\",\"sizesMiB\":[$thp_mib],\"dirtyPermille\":[$thp_permille],\"intervalMs\":$interval,\"repeats\":$repeats,\"gapMs\":$gap}"
fi
echo "{\"tasks\":[$tasks]}" >"$share/job.json"

t0=$(lab_now_ms)
export FERRY_LAB_MEM=${FERRY_LAB_MEM:-2G}
FERRY_LAB_TIMEOUT=${FERRY_LAB_TIMEOUT:-3600} bash "$repo/infra/lab/boot-guest.sh" "$guest" "$share"
t1=$(lab_now_ms)
mkdir -p "$repo/bench/results"
cp "$share/out/result.json" "$repo/bench/results/$out-raw.json"
node "$repo/bench/lab-downtime.js" "$repo/bench/results/$out-raw.json" "$share/boot.json" "$((t1 - t0))" "$out" >"$repo/bench/results/$out.md"
cat "$repo/bench/results/$out.md"
