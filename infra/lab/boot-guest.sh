#!/usr/bin/env bash
# Boots the lab guest once: the checkout is shared read-only (tag "ferry"), SHARE_DIR read-write
# (tag "lab"). The guest reads SHARE_DIR/job.json, writes SHARE_DIR/out/, and powers itself off.
#
#   boot-guest.sh GUEST_DIR SHARE_DIR
#
# Environment: FERRY_LAB_TIMEOUT (seconds, default 300; qemu is killed after it),
# FERRY_LAB_MEM (default 1G), FERRY_LAB_SMP (vCPUs, default 1), FERRY_LAB_HOST_PORTS (host
# TCP ports on 127.0.0.1 the guest may reach, e.g. "7233 9000"; default none: no network at all).
# Writes SHARE_DIR/console.log (serial console, each line prefixed with host ms since launch)
# and SHARE_DIR/boot.json (host-side timings). Exit 0 only when the guest's scenario exited 0.
set -euo pipefail
# shellcheck source=infra/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ $# -eq 2 ] || lab_die "usage: boot-guest.sh GUEST_DIR SHARE_DIR"
guest=$1
share=$(cd "$2" && pwd)
timeout_s=${FERRY_LAB_TIMEOUT:-300}
mem=${FERRY_LAB_MEM:-1G}
smp=${FERRY_LAB_SMP:-1}

for f in vmlinux initrd.cpio.gz system.sqfs ready; do
  [ -f "$guest/$f" ] || lab_die "$guest/$f missing; build the guest with infra/lab/build-guest.sh"
done
[ -f "$share/job.json" ] || lab_die "$share/job.json missing: the guest would have nothing to do"
command -v qemu-system-x86_64 >/dev/null || lab_die "qemu-system-x86_64 not found; install qemu-system-x86"
rm -rf "$share/out"
mkdir -p "$share/out"

# No network unless asked. With FERRY_LAB_HOST_PORTS the guest gets a user-mode NIC with
# restrict=on (it can reach neither the host nor anything outside), and each listed port of the
# host's loopback is forwarded to the same port at $LAB_HOST_ADDR in the guest, one tcp-bridge.js
# per connection.
LAB_HOST_ADDR=10.0.2.100
net=(-net none)
if [ -n "${FERRY_LAB_HOST_PORTS:-}" ]; then
  fwd=""
  for port in $FERRY_LAB_HOST_PORTS; do
    [[ "$port" =~ ^[0-9]+$ ]] || lab_die "FERRY_LAB_HOST_PORTS: $port is not a port number"
    fwd+=",guestfwd=tcp:$LAB_HOST_ADDR:$port-cmd:$FERRY_LAB_NODE $LAB_DIR/tcp-bridge.js $port"
  done
  net=(-netdev "user,id=n0,restrict=on$fwd" -device virtio-net-pci,netdev=n0,romfile=)
fi

# -accel tcg: KVM is not usable on these hosts. qemu64,+rdrand seeds the guest RNG at boot.
# panic=-1 + -no-reboot: a guest whose init dies makes qemu exit instead of hanging.
qemu=(
  qemu-system-x86_64 -accel tcg -cpu qemu64,+rdrand -m "$mem" -smp "$smp"
  -nographic -no-reboot "${net[@]}" -serial mon:stdio
  -kernel "$guest/vmlinux" -initrd "$guest/initrd.cpio.gz"
  -append "console=ttyS0 panic=-1 quiet loglevel=4 mitigations=off"
  -drive "file=$guest/system.sqfs,if=virtio,format=raw,readonly=on"
  -virtfs "local,path=$LAB_REPO,mount_tag=ferry,security_model=none,readonly=on"
  -virtfs "local,path=$share,mount_tag=lab,security_model=none"
)

t0=$(lab_now_ms)
lab_log "booting guest (timeout ${timeout_s}s, ${mem}, ${smp} vCPU); console: $share/console.log"
rc=0
# The hard timeout kills qemu (SIGTERM, then SIGKILL 5 s later), so a hung guest never hangs CI.
timeout -k 5 "$timeout_s" "${qemu[@]}" </dev/null 2>"$share/qemu.stderr" |
  while IFS= read -r line; do
    line=${line%$'\r'}
    printf '%6d %s\n' "$(( $(lab_now_ms) - t0 ))" "$line"
  done >"$share/console.log" || rc=$?
t1=$(lab_now_ms)
# With pipefail, rc is timeout's status (the reader loop always succeeds): 124/137 = it fired.
[ "$rc" = 0 ] || lab_log "qemu pipeline exited $rc"

ms_at() { awk -v m="$1" '$0 ~ m { print $1; exit }' "$share/console.log"; }
init_ms=$(ms_at 'LAB: init-start')
ready_ms=$(ms_at 'LAB: ready')
done_ms=$(ms_at 'LAB: done')
guest_exit=$(cat "$share/out/scenario-exit-code" 2>/dev/null || echo null)
cat >"$share/boot.json" <<EOF
{"wallMs":$((t1 - t0)),"initStartMs":${init_ms:-null},"readyMs":${ready_ms:-null},"doneMs":${done_ms:-null},"scenarioExitCode":$guest_exit,"qemuExit":$rc,"timeoutS":$timeout_s}
EOF
lab_log "guest finished in $((t1 - t0)) ms (init at ${init_ms:-?} ms, ready at ${ready_ms:-?} ms)"

if [ -z "$done_ms" ]; then
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    lab_die "guest did not finish within ${timeout_s}s and was killed; see $share/console.log"
  fi
  lab_die "guest stopped before its scenario finished (qemu exit $rc); see $share/console.log and $share/qemu.stderr"
fi
[ "$guest_exit" = 0 ] || lab_die "guest scenario failed (exit $guest_exit); see $share/console.log and $share/out/"
