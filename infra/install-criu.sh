#!/usr/bin/env bash
# Installs CRIU >= 4.1 (ferry checkpoints processes with it).
#
# Skips a `criu` that already works: version >= 4.1 and `criu check` passes. Otherwise builds
# CRIU 4.1.1 from the upstream tarball as Debian ships it (the orig tarball of trixie's source
# package): bookworm's own criu 3.17 fails `criu check` on recent kernels (vDSO layout).
# Downloads and the build tree are cached under $FERRY_CACHE_DIR/criu, so a rerun after a
# failure repeats only what is missing.
set -euo pipefail
COMPONENT=criu
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib-common.sh
. "$here/lib-common.sh"

CRIU_VERSION=4.1.1
CRIU_MIN_VERSION=4.1
CRIU_TARBALL="criu_${CRIU_VERSION}.orig.tar.xz"
CRIU_SHA256=f80a66cb3726bb2116266d4759ce3bcbfab7abdb6b6d430bf20dd41911717afe
CRIU_SOURCE_SUITE=trixie
CRIU_PREFIX="${FERRY_CRIU_PREFIX:-/usr/local/sbin}"
SYSTEM_SOURCES="${FERRY_APT_SOURCES:-/etc/apt/sources.list.d/debian.sources}"
cache="$FERRY_CACHE_DIR/criu"

BUILD_DEPS=(
  gcc make libc6-dev pkg-config xz-utils
  libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev protobuf-compiler
  libnl-3-dev libnet1-dev libcap-dev libbsd-dev libgnutls28-dev libnftables-dev uuid-dev
  python3-protobuf
)

# "4.1.1" out of `criu --version` ("Version: 4.1.1"), empty if it does not run.
criu_version() {
  "$1" --version 2>/dev/null | sed -n 's/^Version: *\([0-9][0-9.]*\).*/\1/p' | head -n1
}

# Why a criu binary is unusable, or nothing when it works.
criu_problem() {
  local bin=$1 version out
  version=$(criu_version "$bin")
  [ -n "$version" ] || { echo "$bin --version does not run"; return; }
  version_ge "$version" "$CRIU_MIN_VERSION" || { echo "$bin is version $version, ferry needs >= $CRIU_MIN_VERSION"; return; }
  if ! out=$("$bin" check 2>&1); then
    echo "\`$bin check\` fails on this kernel: $(printf '%s' "$out" | tail -n1)"
  fi
}

# The URIs and Signed-By of the system's main Debian archive (the deb822 stanza whose suites
# include a plain release name such as "bookworm"), printed as deb822 fields. Continuation
# lines are kept, so an inline Signed-By key block survives.
main_archive_fields() {
  awk -v RS= '
    {
      n = split($0, lines, "\n"); types = ""; suites = ""; uris = ""; signed = ""; key = ""
      for (i = 1; i <= n; i++) {
        line = lines[i]
        if (line ~ /^#/) continue
        if (line ~ /^[ \t]/) { if (key == "signed-by") signed = signed "\n" line; continue }
        colon = index(line, ":"); if (colon == 0) continue
        key = tolower(substr(line, 1, colon - 1)); value = substr(line, colon + 1)
        sub(/^[ \t]+/, "", value); sub(/[ \t]+$/, "", value)
        if (key == "types") types = value
        else if (key == "suites") suites = value
        else if (key == "uris") uris = value
        else if (key == "signed-by") signed = "Signed-By: " value
      }
      if (types !~ /(^|[ \t])deb([ \t]|$)/ || uris == "") next
      m = split(suites, s, /[ \t]+/); plain = 0
      for (j = 1; j <= m; j++) if (s[j] != "" && s[j] !~ /[-\/]/) plain = 1
      if (!plain) next
      print "URIs: " uris
      if (signed != "") print signed
      exit
    }' "$SYSTEM_SOURCES"
}

sha256_ok() {
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$CRIU_SHA256" ]
}

# Downloads the orig tarball with apt itself, through a private sources dir (the system's apt
# configuration is not touched).
fetch_tarball() {
  local tarball="$cache/$CRIU_TARBALL" aptdir="$cache/apt" fields rc
  if sha256_ok "$tarball"; then
    log "using cached $tarball"
    return 0
  fi
  [ -r "$SYSTEM_SOURCES" ] || fail "cannot read $SYSTEM_SOURCES to find the Debian mirror; set FERRY_APT_SOURCES to a deb822 .sources file, or put $CRIU_TARBALL (sha256 $CRIU_SHA256) into $cache"
  fields=$(main_archive_fields)
  [ -n "$fields" ] || fail "no Debian main archive stanza (Types: deb, a plain release suite, URIs) in $SYSTEM_SOURCES"
  rm -rf "$aptdir"
  mkdir -p "$aptdir/sources.list.d" "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/download"
  {
    echo "Types: deb-src"
    echo "Suites: $CRIU_SOURCE_SUITE"
    echo "Components: main"
    echo "$fields"
  } >"$aptdir/sources.list.d/ferry-criu-src.sources"
  log "fetching $CRIU_TARBALL from $(echo "$fields" | sed -n 's/^URIs: //p') ($CRIU_SOURCE_SUITE source package)"
  local apt_opts=(
    -o Dir::Etc::SourceList=/dev/null
    -o "Dir::Etc::SourceParts=$aptdir/sources.list.d"
    -o "Dir::State::Lists=$aptdir/lists"
    -o "Dir::Cache=$aptdir/cache"
    -o APT::Sandbox::User=root
  )
  apt-get "${apt_opts[@]}" -qq update >&2 ||
    fail "apt-get update of the private $CRIU_SOURCE_SUITE deb-src list failed (see above); the mirror must serve $CRIU_SOURCE_SUITE sources"
  # The .dsc and .debian.tar.xz may be gone from the mirror (404) while the orig tarball is
  # still there, so apt's exit status alone does not decide; the checksum does.
  rc=0
  (cd "$aptdir/download" && apt-get "${apt_opts[@]}" -qq source --download-only criu >&2) || rc=$?
  if [ ! -f "$aptdir/download/$CRIU_TARBALL" ]; then
    local got
    got=$(cd "$aptdir/download" && ls criu_*.orig.tar.* 2>/dev/null | tr '\n' ' ')
    fail "apt-get source criu (exit $rc) did not deliver $CRIU_TARBALL${got:+ (got: $got)}; put the tarball (sha256 $CRIU_SHA256) into $cache and rerun"
  fi
  sha256_ok "$aptdir/download/$CRIU_TARBALL" ||
    fail "$CRIU_TARBALL from the mirror has sha256 $(sha256sum "$aptdir/download/$CRIU_TARBALL" | cut -d' ' -f1), expected $CRIU_SHA256; refusing to build it"
  mv -f "$aptdir/download/$CRIU_TARBALL" "$tarball"
  rm -rf "$aptdir"
}

build_criu() {
  local src="$cache/criu-$CRIU_VERSION" tmp logfile="$FERRY_CACHE_DIR/logs/criu-build.log" rc
  if [ -f "$src/.ferry-built" ] && [ -x "$src/criu/criu" ] && [ "$(criu_version "$src/criu/criu")" = "$CRIU_VERSION" ]; then
    log "using cached build $src/criu/criu"
    return 0
  fi
  rm -rf "$src"
  tmp=$(mktemp -d "$cache/extract.XXXXXX")
  tar -xJf "$cache/$CRIU_TARBALL" -C "$tmp"
  [ -d "$tmp/criu-$CRIU_VERSION" ] || fail "$CRIU_TARBALL does not contain criu-$CRIU_VERSION/"
  mv "$tmp/criu-$CRIU_VERSION" "$src"
  rmdir "$tmp"
  mkdir -p "$(dirname "$logfile")"
  log "building CRIU $CRIU_VERSION (make criu, about a minute on 2 cores; log: $logfile)"
  rc=0
  make -C "$src" -j"${FERRY_MAKE_JOBS:-2}" criu >"$logfile" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    tail -n 25 "$logfile" >&2 || true
    fail "building CRIU $CRIU_VERSION failed (make exit $rc); full log in $logfile"
  fi
  touch "$src/.ferry-built"
}

main() {
  local existing problem
  existing=$(command -v criu 2>/dev/null || true)
  [ -z "$existing" ] && [ -x "$CRIU_PREFIX/criu" ] && existing="$CRIU_PREFIX/criu"
  if [ -n "$existing" ]; then
    problem=$(criu_problem "$existing")
    if [ -z "$problem" ]; then
      printf 'criu: already present (%s at %s, criu check passes)\n' "$(criu_version "$existing")" "$existing"
      return 0
    fi
    log "$problem; building CRIU $CRIU_VERSION instead"
  fi

  require_root
  mkdir -p "$cache"
  apt_install_missing "${BUILD_DEPS[@]}"
  fetch_tarball
  build_criu
  install_binary "$cache/criu-$CRIU_VERSION/criu/criu" criu "$CRIU_PREFIX"

  problem=$(criu_problem "$CRIU_PREFIX/criu")
  [ -z "$problem" ] || fail "CRIU $CRIU_VERSION was built and installed to $CRIU_PREFIX/criu, but $problem"
  if [ "$(command -v criu 2>/dev/null || true)" != "$CRIU_PREFIX/criu" ]; then
    log "note: \`criu\` on PATH is $(command -v criu 2>/dev/null || echo 'nothing'), not $CRIU_PREFIX/criu; put $CRIU_PREFIX first on PATH or set FERRY_CRIU=$CRIU_PREFIX/criu"
  fi
  printf 'criu: installed (%s at %s, criu check passes, %s)\n' "$CRIU_VERSION" "$CRIU_PREFIX/criu" "$(elapsed)"
}

main "$@"
