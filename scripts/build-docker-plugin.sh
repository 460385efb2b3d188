#!/usr/bin/env bash
# The docker resource plugin, from Go module sources: the route where no Pulumi download site answers.
# It needs the pulumi-docker provider module and the Terraform provider it bridges
# (kreuzwerker/terraform-provider-docker), both at the commits of pulumi-docker v$PULUMI_DOCKER_VERSION.
# The module proxy here refuses both (403), so this step stops with that answer instead of
# substituting anything; see README, "Toolchain".
set -euo pipefail
. "$(dirname "$0")/env.sh"

modules=(
  "github.com/pulumi/pulumi-docker/provider/v5@v5.0.0-20260626165050-e944612c4c97"
  "github.com/kreuzwerker/terraform-provider-docker@v0.0.0-20260618190003-5074970c71ce"
)
missing=0
for module in "${modules[@]}"; do
  if ! answer=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "$module" 2>&1); then
    echo "    not served by the Go module proxy: $module" >&2
    echo "$answer" | grep -m1 -E 'Error|server response|403|404' | sed 's/^/      /' >&2
    missing=1
  fi
done
if [ $missing -eq 1 ]; then
  echo "    BLOCKED: the docker resource plugin cannot be built on this machine; \`make up\` needs it." >&2
  exit 1
fi
echo "    both modules are served now: the build from them is not written yet (see README, Toolchain)." >&2
exit 1
