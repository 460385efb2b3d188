#!/usr/bin/env bash
# Idempotent setup for `make up` and `make test`: provides, only when missing, the Docker engine,
# the Pulumi toolchain and docker resource plugin, the drills' linearizability checker, the venv, the file backend and
# the Debian trixie base image.
set -euo pipefail
. "$(dirname "$0")/env.sh"
. "$PGHA_ROOT/scripts/setup-steps.sh"
mkdir -p "$PGHA_CACHE/logs" "$PGHA_HOME"

# The Go builds keep both cores busy while the other steps mostly wait on the network and the disk,
# so they run side by side; the builds' output is printed when they end.
go_log="$PGHA_CACHE/logs/go-builds.log"
go_builds() {
  local rc=0
  { step "Pulumi CLI and Python language host" pulumi_toolchain &&
    step "Pulumi docker resource plugin $PULUMI_DOCKER_VERSION" docker_plugin; } || rc=$?
  step "Linearizability checker (tools/lincheck)" lincheck || rc=$?
  return $rc
}
go_builds >"$go_log" 2>&1 &
go_builds=$!

step "Docker engine" docker_engine
step "Python venv" python_venv
step "Pulumi file backend and passphrase" pulumi_backend
step "Stack files keep this machine's salt out of git" stack_file_filter
step "Debian trixie base image" base_image

rc=0
wait $go_builds || rc=$?
cat "$go_log"
exit $rc
