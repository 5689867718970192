#!/usr/bin/env bash
# `make lab`: proves ferry's pre-dump chain on a kernel with soft-dirty tracking, in two boots
# of the qemu lab guest (see docs/lab.md):
#   boot 1  criu check + the tutorial (ferry pre-dump, pre-dump --prev-images-dir,
#           dump --prev-images-dir, restore, page-by-page verify); the chain comes back;
#   host    ferry inspect on the returned chain; a copy whose final dump points at the wrong
#           parent must fail it;
#   boot 2  ferry must refuse to restore the wrong-parent copy (and CRIU alone restores it with
#           stale pages), then restores the returned chain and the workload verifies every page.
# The MinIO round trip (push, pull, byte compare, restore from the pulled chain) runs in
# test/integration/lab.test.ts, which `make test` runs with the dev stack up.
#
# Options: --keep (leave the work dir), --mib N (default 64), --dirty-permille P (default 5),
# --interval-ms MS (default 200), --thp always|madvise|never (default madvise).
# Environment: FERRY_LAB_WORK (work dir; default a new /tmp/ferry-lab-*), plus those of
# build-guest.sh and boot-guest.sh.
set -euo pipefail
# shellcheck source=infra/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

keep=0
mib=64
permille=5
interval=200
# Huge pages carry one soft-dirty bit per 2 MiB (see docs/lab.md); "madvise" keeps them off the
# workload's plain mmap so pre-dumps can skip what did not change.
thp=madvise
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1 ;;
    --mib) mib=$2; shift ;;
    --dirty-permille) permille=$2; shift ;;
    --interval-ms) interval=$2; shift ;;
    --thp) thp=$2; shift ;;
    *) lab_die "unknown option $1 (see the header of $0)" ;;
  esac
  shift
done

t_start=$(lab_now_ms)
work=${FERRY_LAB_WORK:-$(mktemp -d /tmp/ferry-lab-XXXXXX)}
mkdir -p "$work"
if [ "$keep" = 0 ] && [ -z "${FERRY_LAB_WORK:-}" ]; then
  trap 'rm -rf "$work"' EXIT
fi

ferry() { node "$LAB_REPO/bin/ferry.js" "$@"; }

[ -f "$LAB_REPO/dist/cli/main.js" ] || lab_die "ferry is not built ($LAB_REPO/dist missing); run 'make build' first"

t0=$(lab_now_ms)
guest=$(bash "$LAB_DIR/build-guest.sh")
t1=$(lab_now_ms)
lab_log "guest ready in $((t1 - t0)) ms: $guest"
workload=$(bash "$LAB_REPO/test/fixtures/workload/build.sh" --static)

# boot 1: check + chain
mkdir -p "$work/boot1"
cp "$workload" "$work/boot1/workload"
cat >"$work/boot1/job.json" <<EOF
{"tasks":[
  {"kind":"check"},
  {"kind":"chain","gapMs":500,"thp":"$thp","workload":{"mib":$mib,"dirtyPermille":$permille,"intervalMs":$interval}}
]}
EOF
bash "$LAB_DIR/boot-guest.sh" "$guest" "$work/boot1"
result1="$work/boot1/out/result.json"
pid=$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); console.log(r.tasks.find((t)=>t.kind==="chain").value.pid)' "$result1")

# host: inspect, then the negative control
chain="$work/boot1/out/chain"
ferry inspect "$chain/final" >"$work/inspect.txt"
cat "$work/inspect.txt" >&2
mkdir -p "$work/boot2"
cp "$work/boot1/workload" "$work/boot2/workload"
cp -a "$chain" "$work/boot2/good"
cp -a "$chain" "$work/boot2/wrong"
ln -sfn ../pre1 "$work/boot2/wrong/final/parent"
if ferry inspect "$work/boot2/wrong/final" >"$work/inspect-wrong.txt" 2>&1; then
  cat "$work/inspect-wrong.txt" >&2
  lab_die "ferry inspect accepted a final dump whose parent is pre-dump 1 instead of pre-dump 2"
fi
lab_log "negative control: ferry inspect rejects the wrong-parent chain:"
grep -E 'not the latest|different parent|NOT consistent' "$work/inspect-wrong.txt" >&2 || true
# The same mistake with the skipped pre-dump absent: only the parent fingerprint ferry wrote into
# the final layer (ferry-layer.json) can tell.
mkdir -p "$work/wrong-alone"
cp -a "$chain/pre1" "$chain/final" "$work/wrong-alone/"
ln -sfn ../pre1 "$work/wrong-alone/final/parent"
if ferry inspect "$work/wrong-alone/final" >"$work/inspect-wrong-alone.txt" 2>&1; then
  cat "$work/inspect-wrong-alone.txt" >&2
  lab_die "ferry inspect accepted a relinked final dump whose skipped pre-dump is absent"
fi
grep -q 'dumped against a different parent' "$work/inspect-wrong-alone.txt" ||
  lab_die "the wrong parent was not caught by the layer fingerprint"
lab_log "negative control: the layer fingerprint catches the wrong parent with the skipped pre-dump absent"

# boot 2: refuse the wrong chain, restore the good one
cat >"$work/boot2/job.json" <<EOF
{"tasks":[
  {"kind":"restore","pid":$pid,"goodChain":"good","goodFinal":"final","wrongChain":"wrong","wrongFinal":"final","proveStale":true}
]}
EOF
bash "$LAB_DIR/boot-guest.sh" "$guest" "$work/boot2"
t_end=$(lab_now_ms)

node "$LAB_DIR/summarize.js" "$work" "$((t1 - t0))" "$((t_end - t_start))"
[ "$keep" = 1 ] && lab_log "work dir kept: $work"
exit 0
