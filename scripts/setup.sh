#!/usr/bin/env bash
# Idempotent setup for `make up` and `make test`: provides, only when missing, the Docker engine,
# the Pulumi toolchain, the venv, the file backend and the Debian trixie base image.
# `--require-provider` makes a missing docker resource plugin an error (deploying needs it; tests do not).
set -euo pipefail
. "$(dirname "$0")/env.sh"
. "$PGHA_ROOT/scripts/setup-steps.sh"

require_provider=false
[ "${1:-}" = "--require-provider" ] && require_provider=true
mkdir -p "$PGHA_CACHE" "$PGHA_HOME"

step "Docker engine" docker_engine
step "Pulumi CLI and Python language host" pulumi_toolchain
step "Python venv" python_venv
step "Pulumi file backend and passphrase" pulumi_backend
step "Debian trixie base image" base_image
if ! step "Pulumi docker resource plugin $PULUMI_DOCKER_VERSION" docker_plugin; then
  $require_provider && exit 1
  echo "    (tests run without it; deploying needs it)"
fi
