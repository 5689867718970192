#!/usr/bin/env bash
# Installs the Temporal CLI, whose `temporal server start-dev` is ferry's embedded dev server.
# Skips a working `temporal` on PATH. v1.5.1 is the newest tag `go install` accepts: later tags
# carry a `replace` directive in go.mod, which Go refuses for `go install module@version`.
set -euo pipefail
COMPONENT=temporal
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib-common.sh
. "$here/lib-common.sh"
# shellcheck source=lib-go-tool.sh
. "$here/lib-go-tool.sh"

go_tool_install temporal "github.com/temporalio/cli/cmd/temporal@${FERRY_TEMPORAL_CLI_VERSION:-v1.5.1}"
