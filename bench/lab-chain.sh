#!/usr/bin/env bash
# Chain-length growth in the soft-dirty lab (docs/lab.md): in one guest boot, a workload gets a
# full dump (baseline), then LAYERS chained pre-dumps ("nightly" layers, one every --gap-ms
# instead of every 24 h), then the final dump on top and a restore from the whole chain, memory
# verified (bench/lab-chain-guest.js does the steps). Writes bench/results/chain.md and
# bench/results/chain-raw.json.
#
# Options: --layers 30 --mib 64 --permille 5 --interval-ms 200 --gap-ms 1000
# Environment: FERRY_LAB_MEM (default 2G here), FERRY_LAB_TIMEOUT (default 600 here).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=infra/lab/lib.sh
source "$repo/infra/lab/lib.sh"

layers=30 mib=64 permille=5 interval=200 gap=1000
while [ $# -gt 0 ]; do
  case "$1" in
    --layers) layers=$2; shift ;;
    --mib) mib=$2; shift ;;
    --permille) permille=$2; shift ;;
    --interval-ms) interval=$2; shift ;;
    --gap-ms) gap=$2; shift ;;
    *) lab_die "unknown option $1 (see the header of $0)" ;;
  esac
  shift
done

[ -f "$repo/dist/criu/index.js" ] || lab_die "ferry is not built; run 'make build' first"
guest=$(bash "$repo/infra/lab/build-guest.sh")
workload=$(bash "$repo/test/fixtures/workload/build.sh" --static)
share=$(mktemp -d /tmp/ferry-lab-chain-XXXXXX)
lab_remove_on_success "$share"
cp "$workload" "$share/workload"
cat >"$share/job.json" <<JSON
{"tasks":[{"kind":"check"},{"kind":"exec","commands":[["node","/ferry/bench/lab-chain-guest.js","/lab","/ferry","$layers","$mib","$permille","$interval","$gap"]]}]}
JSON

t0=$(lab_now_ms)
FERRY_LAB_MEM=${FERRY_LAB_MEM:-2G} FERRY_LAB_TIMEOUT=${FERRY_LAB_TIMEOUT:-600} bash "$repo/infra/lab/boot-guest.sh" "$guest" "$share" || true
t1=$(lab_now_ms)
if [ ! -f "$share/out/chain-raw.json" ]; then
  node -e 'const r=require(process.argv[1]); for (const t of r.tasks) console.error(JSON.stringify(t).slice(0, 6000));' "$share/out/result.json" >&2 || tail -50 "$share/console.log" >&2
  lab_die "the chain bench did not finish in the guest (see above)"
fi
mkdir -p "$repo/bench/results"
cp "$share/out/chain-raw.json" "$repo/bench/results/chain-raw.json"
node "$repo/bench/chain-report.js" "$((t1 - t0))" >"$repo/bench/results/chain.md"
cat "$repo/bench/results/chain.md"
