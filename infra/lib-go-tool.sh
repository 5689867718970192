# Installs a Go-built command-line tool (sourced by install-temporal.sh and install-minio.sh,
# after lib-common.sh).
#
# go_tool_install NAME MODULE@VERSION
#   1. a working NAME on PATH (or in $FERRY_BIN_DIR) -> already present;
#   2. a working NAME left in Go's bin dir by an earlier `go install` -> copied onto PATH;
#   3. otherwise `go install MODULE@VERSION`, then copied onto PATH.
# "Working" means `NAME --version` exits 0: a binary that cannot even print its version is
# treated as absent and replaced.

tool_version() {
  "$1" --version 2>/dev/null | head -n1
}

tool_works() {
  [ -x "$1" ] && "$1" --version >/dev/null 2>&1
}

go_tool_install() {
  local name=$1 module=$2 existing go bindir logfile rc
  if tool_works "$FERRY_BIN_DIR/$name"; then
    printf '%s: already present (%s at %s)\n' "$name" "$(tool_version "$FERRY_BIN_DIR/$name")" "$FERRY_BIN_DIR/$name"
    return 0
  fi
  existing=$(command -v "$name" 2>/dev/null || true)
  go=$(find_go || true)
  bindir=
  [ -n "$go" ] && bindir=$(go_bin_dir "$go")
  # A binary left in Go's bin dir (~/go/bin) is on PATH only for the user who built it; it
  # gets copied to $FERRY_BIN_DIR below. Anything else that works is the user's own install.
  if [ -n "$existing" ] && [ "$existing" != "$bindir/$name" ] && tool_works "$existing"; then
    printf '%s: already present (%s at %s)\n' "$name" "$(tool_version "$existing")" "$existing"
    return 0
  fi
  [ -n "$existing" ] && ! tool_works "$existing" && log "$existing does not run ($name --version fails); replacing it"

  require_root
  [ -n "$go" ] || fail "no Go toolchain: \`go\` is neither on PATH nor at /usr/local/go/bin/go, and no working \`$name\` is on PATH. Install Go >= 1.24 (https://go.dev/dl) or put a $name binary on PATH, then rerun"

  if tool_works "$bindir/$name"; then
    log "reusing $bindir/$name from an earlier go install"
  else
    mkdir -p "$FERRY_CACHE_DIR/logs"
    logfile="$FERRY_CACHE_DIR/logs/go-install-$name.log"
    log "building $module with $("$go" version | cut -d' ' -f3) (this takes minutes; log: $logfile)"
    rc=0
    # One Go build at a time: they each saturate the machine, and two installers run in parallel
    # would only slow each other down.
    flock "$FERRY_CACHE_DIR/go-install.lock" "$go" install "$module" >"$logfile" 2>&1 || rc=$?
    if [ "$rc" != 0 ]; then
      tail -n 20 "$logfile" >&2 || true
      fail "\`go install $module\` exited $rc (it needs the Go module proxy, $("$go" env GOPROXY)); full log in $logfile"
    fi
    tool_works "$bindir/$name" || fail "\`go install $module\` succeeded but $bindir/$name does not run"
  fi

  install_binary "$bindir/$name" "$name"
  tool_works "$FERRY_BIN_DIR/$name" || fail "$FERRY_BIN_DIR/$name does not run after installing it"
  case ":$PATH:" in
    *":$FERRY_BIN_DIR:"*) ;;
    *) log "note: $FERRY_BIN_DIR is not on this shell's PATH; add it to use $name" ;;
  esac
  printf '%s: installed (%s at %s, %s)\n' "$name" "$(tool_version "$FERRY_BIN_DIR/$name")" "$FERRY_BIN_DIR/$name" "$(elapsed)"
}
