#!/usr/bin/env bash
# Builds the soft-dirty lab guest, or finds it in the cache, and prints its directory on stdout.
#
# The guest is made only of registry packages and this machine's own binaries:
#   vmlinux         Debian bookworm's linux-image-6.1.0-*-amd64 (CONFIG_MEM_SOFT_DIRTY=y),
#                   uncompressed from the bzImage because TCG boots the ELF about twice as fast;
#   initrd.cpio.gz  busybox-static, the kernel modules the lab needs, infra/lab/guest/init.sh;
#   system.sqfs     CRIU (the binary infra/install.sh installs) and this machine's Node, each with
#                   the shared libraries ldd finds (plus those of the checkout's native addons),
#                   on a read-only squashfs disk so the initramfs stays small.
# ferry's own code is not in the guest image: the checkout is shared read-only over 9p at boot,
# so code changes never force a rebuild. The cache key covers every input above.
#
# Environment: FERRY_LAB_CACHE (default /var/cache/ferry/lab), FERRY_LAB_CRIU (default
# /usr/local/sbin/criu), FERRY_LAB_NODE (default: node on PATH), FERRY_LAB_KERNEL_DEB (a
# specific linux-image .deb instead of the newest bookworm 6.1 one).
set -euo pipefail
# shellcheck source=infra/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Kernel modules the guest loads, in this order (dependencies are added in front automatically).
# crc32c_generic..nf_tables: this CRIU links libnftables and fails in kerndat without them.
# virtio..9p: the system disk and the host shares. virtio_net: the NIC of boots that reach host
# services (FERRY_LAB_HOST_PORTS). The *_diag modules let CRIU inspect sockets.
LAB_MODULES=(
  crc32c_generic libcrc32c nfnetlink nf_tables
  virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk
  netfs fscache 9pnet 9pnet_virtio 9p squashfs virtio_net
  inet_diag tcp_diag udp_diag unix_diag netlink_diag af_packet_diag
)

lab_apt_install_missing qemu-system-x86 busybox-static squashfs-tools cpio xz-utils binutils

BUSYBOX=/bin/busybox
[ -x "$FERRY_LAB_CRIU" ] ||
  lab_die "CRIU not found at $FERRY_LAB_CRIU; install it with 'bash infra/install.sh' (or set FERRY_LAB_CRIU)"
[ -x "$FERRY_LAB_NODE" ] || lab_die "node not found at $FERRY_LAB_NODE; set FERRY_LAB_NODE"
! readelf -l "$BUSYBOX" 2>/dev/null | grep -q "program interpreter" ||
  lab_die "$BUSYBOX is not the static busybox; install the busybox-static package"

# Picks the newest bookworm 6.1 kernel package apt knows (downloading it once into the cache),
# or, with no apt lists at hand, the newest one already cached.
resolve_kernel_deb() {
  if [ -n "${FERRY_LAB_KERNEL_DEB:-}" ]; then
    [ -f "$FERRY_LAB_KERNEL_DEB" ] || lab_die "FERRY_LAB_KERNEL_DEB=$FERRY_LAB_KERNEL_DEB does not exist"
    echo "$FERRY_LAB_KERNEL_DEB"
    return
  fi
  local debs="$FERRY_LAB_CACHE/debs" pkg ver deb
  mkdir -p "$debs"
  # A cached kernel is kept (set FERRY_LAB_REFRESH=1 to look for a newer one): asking apt costs
  # seconds, and the guest should not change under a developer's feet.
  deb=$(find "$debs" -maxdepth 1 -name 'linux-image-6.1.0-*-amd64_*_amd64.deb' | sort -V | tail -n1)
  if [ -n "$deb" ] && [ -z "${FERRY_LAB_REFRESH:-}" ]; then echo "$deb"; return; fi
  pkg=$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null | grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' | sort -V | tail -n1 || true)
  if [ -z "$pkg" ]; then
    if [ -n "$deb" ]; then echo "$deb"; return; fi
    [ "$(id -u)" = 0 ] || lab_die "no Debian 6.1 kernel package known to apt; run 'apt-get update' as root and rerun"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
    pkg=$(apt-cache pkgnames linux-image-6.1.0- | grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' | sort -V | tail -n1 || true)
    [ -n "$pkg" ] || lab_die "apt knows no linux-image-6.1.0-*-amd64 package; the lab needs Debian bookworm's sources"
  fi
  ver=$(apt-cache show --no-all-versions "$pkg" | sed -n 's/^Version: //p' | head -n1)
  deb="$debs/${pkg}_${ver}_amd64.deb"
  if [ ! -f "$deb" ]; then
    lab_log "downloading $pkg $ver"
    (cd "$debs" && apt-get -o APT::Sandbox::User=root -qq download "$pkg=$ver" >&2) ||
      lab_die "apt-get download $pkg=$ver failed"
  fi
  echo "$deb"
}

# bzImage -> ELF vmlinux: the setup header says where the compressed payload sits
# (payload_offset/payload_length at 0x248/0x24c, counted from the protected-mode code that
# follows the (setup_sects + 1) * 512 bytes of real-mode setup).
extract_vmlinux() {
  local bz=$1 out=$2 setup_sects off len start magic
  setup_sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$bz" | tr -d ' ')
  [ "$setup_sects" = 0 ] && setup_sects=4
  off=$(od -An -tu4 -j $((0x248)) -N4 "$bz" | tr -d ' ')
  len=$(od -An -tu4 -j $((0x24c)) -N4 "$bz" | tr -d ' ')
  start=$(( (setup_sects + 1) * 512 + off ))
  magic=$(od -An -tx1 -j "$start" -N4 "$bz" | tr -d ' ')
  local payload=(dd if="$bz" iflag=skip_bytes,count_bytes skip="$start" count="$len" bs=1M status=none)
  case "$magic" in
    fd377a58) "${payload[@]}" | xz -dc --single-stream >"$out" ;;
    1f8b*) "${payload[@]}" | gzip -dc >"$out" ;;
    28b52ffd) "${payload[@]}" | zstd -dc >"$out" ;;
    *) lab_die "unknown kernel payload compression (magic $magic) in $bz" ;;
  esac
  [ "$(od -An -tx1 -N4 "$out" | tr -d ' ')" = 7f454c46 ] || lab_die "extracted kernel from $bz is not an ELF file"
}

# Copies binary $1 to $2 and every shared library ldd lists for it into $3 (flat, by soname).
copy_with_libs() {
  local bin=$1 dest=$2 libdir=$3 lib
  install -D -m 0755 "$bin" "$dest"
  while read -r lib; do
    [ -n "$lib" ] && [ -f "$lib" ] && cp -L -n "$lib" "$libdir/$(basename "$lib")"
  done < <(ldd "$bin" | awk '/=> \//{print $3} /^\s*\/[^ ]+ \(/{print $1}')
}

# Shared libraries that the checkout's native Node addons (Temporal's core bridge, which `ferry
# worker` loads) need beyond node's own; the addons themselves come over the checkout share.
addon_libs() {
  local addon
  find "$LAB_REPO/node_modules" -name '*.node' -path '*linux*' 2>/dev/null | while read -r addon; do
    readelf -h "$addon" 2>/dev/null | grep -q 'X86-64' || continue
    ldd "$addon" 2>/dev/null | awk '/=> \//{print $3}'
  done | sort -u
}

kernel_deb=$(resolve_kernel_deb)
extra_libs=$(addon_libs)
key_input=$(
  echo "$extra_libs"
  basename "$kernel_deb"
  sha256sum "$FERRY_LAB_CRIU" "$BUSYBOX" | awk '{print $1}'
  # node is ~100 MiB: its size and mtime identify it well enough and cost nothing to read.
  stat -L -c '%s %Y' "$FERRY_LAB_NODE"
  cat "$LAB_DIR/build-guest.sh" "$LAB_DIR/guest/init.sh"
  printf '%s\n' "${LAB_MODULES[@]}"
)
key=$(printf '%s' "$key_input" | sha256sum | cut -c1-16)
guest="$FERRY_LAB_CACHE/guest-$key"

exec 9>"$FERRY_LAB_CACHE/.build.lock"
flock 9
if [ -f "$guest/ready" ]; then
  lab_log "guest cached: $guest"
  touch "$guest/ready"
  echo "$guest"
  exit 0
fi

t0=$(lab_now_ms)
lab_log "building guest $key from $(basename "$kernel_deb")"
work=$(mktemp -d "$FERRY_LAB_CACHE/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$kernel_deb" "$work/kernel"
kver=$(basename "$(find "$work/kernel/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)")
moddir="$work/kernel/lib/modules/$kver"
grep -q '^CONFIG_MEM_SOFT_DIRTY=y' "$work/kernel/boot/config-$kver" ||
  lab_die "kernel $kver lacks CONFIG_MEM_SOFT_DIRTY; the lab needs a kernel that tracks dirty pages"
mkdir -p "$work/out"
extract_vmlinux "$work/kernel/boot/vmlinuz-$kver" "$work/out/vmlinux"

# initramfs
root="$work/initrd"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,lab,ferry,sysroot,modules}
cp "$BUSYBOX" "$root/bin/busybox"
while read -r applet; do
  [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done < <("$BUSYBOX" --list-full)
# The dynamic loader and libraries live on the system disk, mounted at /sysroot.
ln -s sysroot/lib "$root/lib"
ln -s sysroot/lib64 "$root/lib64"
install -m 0755 "$LAB_DIR/guest/init.sh" "$root/init"
printf 'root:x:0:0:root:/tmp:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"

declare -A seen=()
order=()
add_module() {
  local name=${1//-/_} file dep deps
  [ -n "${seen[$name]:-}" ] && return 0
  seen[$name]=1
  file=$(find "$moddir/kernel" \( -name "$name.ko" -o -name "${name//_/-}.ko" \) | head -n1)
  if [ -z "$file" ]; then
    grep -qE "/(${name}|${name//_/-})\.ko$" "$moddir/modules.builtin" && return 0
    lab_die "kernel module $name not found in $kver"
  fi
  deps=$(strings -a "$file" | sed -n 's/^depends=//p' | head -n1)
  for dep in ${deps//,/ }; do add_module "$dep"; done
  cp "$file" "$root/modules/$name.ko"
  order+=("$name")
}
for m in "${LAB_MODULES[@]}"; do add_module "$m"; done
printf '%s\n' "${order[@]}" >"$root/modules/order"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1 >"$work/out/initrd.cpio.gz")

# system disk
sys="$work/sysroot"
mkdir -p "$sys/bin" "$sys/lib/x86_64-linux-gnu" "$sys/lib64"
copy_with_libs "$FERRY_LAB_CRIU" "$sys/bin/criu" "$sys/lib/x86_64-linux-gnu"
copy_with_libs "$FERRY_LAB_NODE" "$sys/bin/node" "$sys/lib/x86_64-linux-gnu"
for lib in $extra_libs; do cp -L -n "$lib" "$sys/lib/x86_64-linux-gnu/$(basename "$lib")"; done
loader=$(readelf -l "$FERRY_LAB_NODE" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
cp -L "$loader" "$sys/lib64/$(basename "$loader")"
# Uncompressed: under TCG, decompressing ~100 MiB of node costs more than reading it.
mksquashfs "$sys" "$work/out/system.sqfs" -noI -noD -noF -noX -all-root -quiet -no-progress >&2

"$FERRY_LAB_CRIU" --version 2>/dev/null | head -n1 >"$work/out/criu-version" || true
t1=$(lab_now_ms)
cat >"$work/out/build-info.json" <<EOF
{"key":"$key","kernel":"$kver","kernelDeb":"$(basename "$kernel_deb")","modules":"$(echo "${order[*]}")","buildMs":$((t1 - t0))}
EOF
touch "$work/out/ready"
rm -rf "$guest"
mv "$work/out" "$guest"
# Keep the two most recently used guests; older ones are dead weight.
find "$FERRY_LAB_CACHE" -maxdepth 2 -name ready -path '*/guest-*' -printf '%T@ %h\n' | sort -rn | tail -n +3 |
  while read -r _ dir; do rm -rf "$dir"; done
lab_log "guest built in $((t1 - t0)) ms: $guest"
echo "$guest"
