#!/bin/sh
# PID 1 of the soft-dirty lab guest (busybox sh). Sets up just enough of a system for CRIU and
# Node, runs infra/lab/guest/scenario.js from the read-only checkout share, and powers off.
# Every path out of here ends in poweroff; if this script dies anyway the kernel panics and,
# booted with panic=-1 under -no-reboot, qemu exits.
export PATH=/sysroot/bin:/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/tmp

uptime_s() { cut -d' ' -f1 /proc/uptime; }

halt_now() {
  sync
  poweroff -f
  sleep 5
  exit 1
}

fail() {
  echo "LAB: init-failed $*"
  [ -d /lab/out ] && echo "$*" >/lab/out/init-error.txt
  halt_now
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
# Images of a multi-GiB workload live here: allow most of the guest's memory, not tmpfs's default half.
mount -t tmpfs -o mode=1777,size=90% tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
echo "LAB: init-start $(uptime_s)"

for m in $(cat /modules/order); do
  insmod "/modules/$m.ko" || fail "insmod $m"
done

mount -t squashfs -o ro /dev/vda /sysroot || fail "mount system disk"
# The checkout never changes while the guest runs, so caching its reads is safe and much faster.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro ferry /ferry || fail "mount checkout share"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 lab /lab || fail "mount lab share"
mkdir -p /lab/out

# CRIU's kerndat probes TCP repair on a socket bound to loopback.
ip link set lo up || fail "ip link set lo up"
# A NIC exists only in boots that reach host services (boot-guest.sh, FERRY_LAB_HOST_PORTS): qemu's
# user-mode network, where the forwarded host ports answer at 10.0.2.100.
if [ -e /sys/class/net/eth0 ]; then
  ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 || fail "eth0 setup"
fi
# An idle TCG guest's entropy pool is not ready at first; every CRIU call stalls ~3 s until it
# is. Block once here instead.
head -c 1 /dev/random >/dev/null
echo "LAB: ready $(uptime_s)"

cd /tmp || fail "cd /tmp"
# Output goes to the serial console, which the host records; no pipe, so a daemon that
# inherits it can never keep this step from finishing.
FERRY_CRIU=/sysroot/bin/criu FERRY_STATE_DIR=/tmp/ferry-state \
  node /ferry/infra/lab/guest/scenario.js /lab /ferry </dev/null
rc=$?
echo "$rc" >/lab/out/scenario-exit-code
echo "LAB: done rc=$rc uptime=$(uptime_s)"
halt_now
