#!/usr/bin/env bash
# Installs the MinIO server (ferry's local S3-compatible store). Skips a working `minio` on PATH;
# otherwise builds it the way MinIO's README recommends, `go install ...@latest`.
set -euo pipefail
COMPONENT=minio
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib-common.sh
. "$here/lib-common.sh"
# shellcheck source=lib-go-tool.sh
. "$here/lib-go-tool.sh"

go_tool_install minio "github.com/minio/minio@${FERRY_MINIO_VERSION:-latest}"
