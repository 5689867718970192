# Shared helpers of the soft-dirty lab scripts (sourced, not run).
#
# The lab boots Debian's 6.1 kernel (which tracks soft-dirty pages, unlike the hosts ferry is
# developed on) under qemu TCG, so that CRIU pre-dumps can run for real. See docs/lab.md.

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_REPO=$(cd "$LAB_DIR/../.." && pwd)

# The cache outlives checkouts (CI clones afresh each run); fall back to the user's cache dir
# when /var/cache is not writable.
if [ -z "${FERRY_LAB_CACHE:-}" ]; then
  if mkdir -p /var/cache/ferry/lab 2>/dev/null && [ -w /var/cache/ferry/lab ]; then
    FERRY_LAB_CACHE=/var/cache/ferry/lab
  else
    FERRY_LAB_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ferry/lab"
  fi
fi
mkdir -p "$FERRY_LAB_CACHE"

FERRY_LAB_CRIU="${FERRY_LAB_CRIU:-${FERRY_CRIU:-/usr/local/sbin/criu}}"
FERRY_LAB_NODE="${FERRY_LAB_NODE:-$(command -v node || echo /usr/bin/node)}"

lab_log() { printf '[lab] %s\n' "$*" >&2; }
lab_die() { printf '[lab] error: %s\n' "$*" >&2; exit 1; }

# Milliseconds since the epoch, for the timings the lab reports.
lab_now_ms() { date +%s%3N; }

# Removes DIR when the script exits successfully; after a failure it is kept and named, since the
# guest's console log and partial results in it are the only diagnosis. An optional second argument
# names a function to run first on every exit (it owns the EXIT trap, so scripts pass theirs here).
lab_remove_on_success() {
  # shellcheck disable=SC2064 # DIR and the function name are expanded now, on purpose.
  trap "rc=\$?; ${2:-:}; if [ \$rc -eq 0 ]; then rm -rf '$1'; else lab_log 'kept $1 for diagnosis'; fi; exit \$rc" EXIT
}

# Installs the Debian packages in "$@" that are missing (root only; others get told what to do).
lab_apt_install_missing() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || lab_die "missing Debian packages: ${missing[*]}; install them (sudo apt-get install ${missing[*]}) and rerun"
  lab_log "installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 ||
    lab_die "apt-get update failed; check the apt sources, then rerun"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
    lab_die "apt-get install failed for: ${missing[*]}"
}
