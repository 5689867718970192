#!/usr/bin/env bash
# Runs every ferry benchmark and rewrites BENCHMARKS.md (plus BENCHMARKS-growth.svg and
# BENCHMARKS-chain.svg) from bench/results/. `make bench` runs this. Each step is a separate,
# bounded command (the longest, the 4 GiB growth step and the qemu lab steps, take ~5-17 min
# on a loaded 2-core machine).
#
# Steps: growth (bench/growth.js), memory (bench/upload-memory.js), driver
# (test/fixtures/workload/bench-dump-restore.js), pipeline and migrate (bench/workflows.js),
# storage (bench/storage-throughput.ts), lab (bench/lab-downtime.sh), chain (bench/lab-chain.sh),
# labmigrate (bench/lab-migrate.sh: migrate with real pre-dumps in the lab, via the dev stack),
# converge (bench/lab-converge.sh: the final dump before and after catch-up rounds, in the lab).
#
# Environment:
#   BENCH_QUICK=1     smaller sizes and fewer runs: growth, memory and driver at 64/256 MiB,
#                     pipeline and migrate at 256 MiB, storage 256 MiB x 1 round, lab 64 MiB x 1,
#                     chain of 5 layers (about 10 min with the lab steps, 5 min without)
#   BENCH_ONLY="..."  run only these steps; the others keep their existing results files
#   BENCH_SKIP="..."  skip these steps (e.g. BENCH_SKIP="lab chain": no qemu)
#   BENCH_SKIP_ALL=1  run nothing, only regenerate BENCHMARKS.md from bench/results/
# Needs root, CRIU >= 4.1, a built tree (`make build`) and the dev stack (`node bin/ferry.js dev up`,
# started here if it is not running; never stopped here, others may use it).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# The AWS SDK's notice about future Node versions, printed by every bench child that loads it.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

quick=${BENCH_QUICK:-0}
only=${BENCH_ONLY:-growth memory driver pipeline migrate storage lab chain labmigrate converge}
skip=${BENCH_SKIP:-}
[ "${BENCH_SKIP_ALL:-0}" = 1 ] && only=""
want() { [[ " $only " == *" $1 "* ]] && [[ " $skip " != *" $1 "* ]]; }
step() { echo "== $* ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))" >&2; }

[ -f dist/cli/main.js ] || { echo "ferry is not built; run 'make build' first" >&2; exit 1; }
mkdir -p bench/results
# Machine facts and the load at the start of a full run, for BENCHMARKS.md's header (a partial
# run keeps the header of the last full one; each section records its own load at start).
[ -n "${BENCH_ONLY+x}" ] || [ "${BENCH_SKIP_ALL:-0}" = 1 ] || BENCH_QUICK=$quick node -e '
  const m = require("./bench/lib").machine();
  m.quick = process.env.BENCH_QUICK === "1";
  require("node:fs").writeFileSync("bench/results/run-info.json", JSON.stringify(m, null, 2) + "\n");'

if want growth || want memory || want pipeline || want migrate; then
  node bin/ferry.js dev up  # idempotent; it also writes the dev host policy that root workers need
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

if want memory; then
  if [ "$quick" = 1 ]; then sizes="64 256"; reps=2; else sizes="256 1024 4096"; reps=3; fi
  step "upload memory $sizes MiB"; node bench/upload-memory.js --sizes "$sizes" --repeats "$reps" >/dev/null
fi

if want driver; then
  # ferry's RPC driver against the criu CLI, dump and restore (the CRIU engineer's micro-bench).
  if [ "$quick" = 1 ]; then sizes=(64 256); else sizes=(256 1024); fi
  step "driver vs criu CLI ${sizes[*]} MiB"
  {
    echo '# Dump and restore: ferry'"'"'s RPC driver vs the criu CLI (test/fixtures/workload/bench-dump-restore.js)'
    echo
    echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg). Full dump (the process is killed), then restore, memory verified;"
    echo 'paths interleaved with alternating order. Wall times include spawning CRIU; CRIU columns come from stats-dump / stats-restore.'
    echo
    node test/fixtures/workload/bench-dump-restore.js "${sizes[@]}"
  } >bench/results/driver.md.tmp
  mv bench/results/driver.md.tmp bench/results/driver.md
fi

if want pipeline; then
  if [ "$quick" = 1 ]; then
    step "pipeline 256 MiB"; node bench/workflows.js pipeline --mib 256 --repeats 3
  else
    step "pipeline 1024 MiB"; node bench/workflows.js pipeline --mib 1024 --repeats 5
    # A smaller size in the same way shows which of ferry's extra costs are fixed per checkpoint.
    step "pipeline 256 MiB"; node bench/workflows.js pipeline --mib 256 --repeats 3
  fi
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

if want chain; then
  if [ "$quick" = 1 ]; then layers=5; else layers=30; fi
  step "chain $layers layers (lab)"; bash bench/lab-chain.sh --layers "$layers" >/dev/null
fi

if want labmigrate; then
  if [ "$quick" = 1 ]; then args=(--mib 64 --repeats 1); else args=(--mib 128 --repeats 3); fi
  step "migrate in the lab ${args[*]}"; bash bench/lab-migrate.sh "${args[@]}" >/dev/null
fi

if want converge; then
  if [ "$quick" = 1 ]; then
    step "converge quick (lab)"; bash bench/lab-converge.sh --sizes 256 --permille "5" --repeats 1 >/dev/null
  else
    step "converge (lab)"; bash bench/lab-converge.sh >/dev/null
    step "converge 4 GiB (lab)"; FERRY_LAB_MEM=18G bash bench/lab-converge.sh --sizes 4096 --permille 5 --repeats 2 --out converge-4g >/dev/null
  fi
fi

node bench/write-benchmarks.js
