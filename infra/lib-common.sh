# Shared helpers of ferry's installers (sourced, not run).
#
# Contract of every infra/install-<component>.sh:
#   - progress goes to stderr, prefixed with the component name;
#   - exactly one status line goes to stdout at the end:
#       "<component>: already present (...)", "<component>: installed (...)" or
#       "<component>: failed: <what is missing and what to do>";
#   - exit 0 when the component works afterwards, 1 otherwise.
# infra/install.sh relies on that to print one line per component.

FERRY_CACHE_DIR="${FERRY_CACHE_DIR:-/var/cache/ferry}"
FERRY_BIN_DIR="${FERRY_BIN_DIR:-/usr/local/bin}"

# Set by each installer before sourcing anything else that logs.
COMPONENT="${COMPONENT:-ferry}"

log() { printf '[%s] %s\n' "$COMPONENT" "$*" >&2; }

# Prints the failure status line and stops. Use for every known failure so the message says
# exactly what is missing.
FERRY_STATUS_PRINTED=
fail() {
  printf '%s: failed: %s\n' "$COMPONENT" "$*"
  FERRY_STATUS_PRINTED=1
  exit 1
}

# An unexpected command failure under `set -e` still produces a status line. The ERR trap
# (top level only, since errtrace is off) remembers the command; the EXIT trap prints.
FERRY_LAST_FAILED=
trap 'FERRY_LAST_FAILED="\"$BASH_COMMAND\" (line $LINENO)"' ERR
on_exit() {
  local rc=$?
  if [ "$rc" != 0 ] && [ -z "$FERRY_STATUS_PRINTED" ]; then
    printf '%s: failed: exit %s%s; see the log above\n' "$COMPONENT" "$rc" "${FERRY_LAST_FAILED:+ at $FERRY_LAST_FAILED}"
  fi
}
trap on_exit EXIT

require_root() {
  if [ "$(id -u)" != 0 ]; then
    fail "must run as root (it installs packages and writes to $FERRY_BIN_DIR); rerun with sudo"
  fi
}

# Seconds since the installer started, for the status line.
FERRY_INSTALL_T0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - FERRY_INSTALL_T0 ))s"; }

# version_ge A B: true when dotted version A >= B.
version_ge() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

# Installs the Debian packages in "$@" that are not installed yet; runs `apt-get update` at most
# once per installer run, and only when something is missing.
apt_install_missing() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null || fail "apt-get not found; install these packages by hand: ${missing[*]}"
  log "installing Debian packages: ${missing[*]}"
  if [ -z "${FERRY_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 ||
      fail "apt-get update failed; check the apt sources and network, then rerun"
    FERRY_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
    fail "apt-get install failed for: ${missing[*]}"
}

# Finds the Go toolchain: PATH first, then the official tarball's default location.
find_go() {
  if command -v go >/dev/null 2>&1; then command -v go; return 0; fi
  if [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go; return 0; fi
  return 1
}

# Directory where `go install` puts binaries: $GOBIN, else $GOPATH/bin (default ~/go/bin).
go_bin_dir() {
  local go=$1 gobin gopath
  gobin=$("$go" env GOBIN)
  if [ -n "$gobin" ]; then echo "$gobin"; return 0; fi
  gopath=$("$go" env GOPATH)
  echo "${gopath%%:*}/bin"
}

# Copies a built binary onto PATH (atomically, so a running copy is never half-written).
install_binary() {
  local src=$1 name=$2 dir=${3:-$FERRY_BIN_DIR}
  mkdir -p "$dir"
  install -m 0755 "$src" "$dir/.$name.tmp.$$"
  mv -f "$dir/.$name.tmp.$$" "$dir/$name"
}
