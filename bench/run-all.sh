#!/usr/bin/env bash
# Runs every ferry benchmark and rewrites BENCHMARKS.md (and BENCHMARKS-growth.svg) from
# bench/results/. `make bench` runs this. Each step is a separate, bounded command.
#
# Environment:
#   BENCH_QUICK=1        small sizes and fewer runs (a few minutes in all): growth 64/256 MiB x 2,
#                        pipeline/migrate 256 MiB x 3, storage 256 MiB x 1 round, lab 64 MiB x 1
#   BENCH_ONLY="..."     run only these steps (growth pipeline migrate storage lab); the others keep
#                        their existing results files. BENCH_ONLY="" with BENCH_SKIP_ALL=1 only
#                        regenerates BENCHMARKS.md.
#   BENCH_SKIP="..."     skip these steps (e.g. BENCH_SKIP=lab: the qemu lab takes ~6 min).
# Needs root, CRIU >= 4.1, a built tree (`make build`) and the dev stack (`node bin/ferry.js dev up`,
# started here if it is not running; never stopped here, others may use it).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

quick=${BENCH_QUICK:-0}
only=${BENCH_ONLY:-growth pipeline migrate storage lab}
skip=${BENCH_SKIP:-}
[ "${BENCH_SKIP_ALL:-0}" = 1 ] && only=""
want() { [[ " $only " == *" $1 "* ]] && [[ " $skip " != *" $1 "* ]]; }
step() { echo "== $* ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))" >&2; }

[ -f dist/cli/main.js ] || { echo "ferry is not built; run 'make build' first" >&2; exit 1; }
mkdir -p bench/results
# Machine facts and the load at the start of the run, for BENCHMARKS.md's header.
BENCH_QUICK=$quick node -e '
  const m = require("./bench/lib").machine();
  m.quick = process.env.BENCH_QUICK === "1";
  require("node:fs").writeFileSync("bench/results/run-info.json", JSON.stringify(m, null, 2) + "\n");'

if want growth || want pipeline || want migrate; then
  node bin/ferry.js dev status >/dev/null 2>&1 || node bin/ferry.js dev up
fi

if want growth; then
  if [ "$quick" = 1 ]; then
    step "growth 64 256 MiB"; node bench/growth.js --fresh --sizes "64 256" --repeats 2
  else
    # One invocation per size keeps each command bounded (4 GiB: ~4 min); results merge by size.
    step "growth 256 1024 MiB"; node bench/growth.js --fresh --sizes "256 1024" --repeats 3
    avail_kib=$(df -k --output=avail /tmp | tail -1)
    if [ "$avail_kib" -gt $((12 * 1024 * 1024)) ]; then
      step "growth 4096 MiB"; node bench/growth.js --sizes 4096 --repeats 3
    else
      echo "growth: skipping 4 GiB, less than 12 GiB free in /tmp" >&2
    fi
  fi
  node bench/plot-growth.js >/dev/null
fi

if want pipeline; then
  if [ "$quick" = 1 ]; then mib=256; else mib=1024; fi
  step "pipeline $mib MiB"; node bench/workflows.js pipeline --mib "$mib" --repeats 3
fi

if want migrate; then
  if [ "$quick" = 1 ]; then mib=256; else mib=1024; fi
  step "migrate $mib MiB"; node bench/workflows.js migrate --mib "$mib" --repeats 3
fi

if want storage; then
  if [ "$quick" = 1 ]; then args=(--size-mib 256 --rounds 1); else args=(--size-mib 1024 --rounds 3); fi
  step "storage ${args[*]}"; node -r ./bench/storage-ts-register.js bench/storage-throughput.ts "${args[@]}" >/dev/null
fi

if want lab; then
  if [ "$quick" = 1 ]; then
    step "lab quick"; bash bench/lab-downtime.sh --sizes 64 --permille "5 50" --repeats 1 --thp-row "" >/dev/null
  else
    step "lab"; bash bench/lab-downtime.sh >/dev/null
  fi
fi

node bench/write-benchmarks.js
