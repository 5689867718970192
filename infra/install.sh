#!/usr/bin/env bash
# Puts ferry's three real components on this machine, skipping whatever already works:
# CRIU >= 4.1, the Temporal CLI (dev server) and the MinIO server. Run as root; safe to rerun.
# Prints one line per component (already present / installed / failed: why) and exits 1 if
# any component is missing afterwards. The installers run one after another: each build
# saturates a small machine on its own.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

components=(criu temporal minio)
summary=()
failed=0
for c in "${components[@]}"; do
  rc=0
  line=$(bash "$here/install-$c.sh" | tail -n1) || rc=$?
  [ -n "$line" ] || line="$c: failed: installer exited $rc without a status line"
  [ "$rc" = 0 ] || failed=1
  summary+=("$line")
done

printf '%s\n' "${summary[@]}"
if [ "$failed" != 0 ]; then
  echo "ferry: some components are missing (see above); fix that and rerun: bash infra/install.sh" >&2
  exit 1
fi
