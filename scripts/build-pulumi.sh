#!/usr/bin/env bash
# Builds the Pulumi CLI (Go module sources) and its Python language host (vendored source) into
# $PGHA_TOOLCHAIN/bin. Both are built in one Go module against the CLI's own pkg/v3 and sdk/v3, so
# the host reuses every package the CLI compiled and costs little more than its link.
set -euo pipefail
. "$(dirname "$0")/env.sh"
. "$PGHA_ROOT/scripts/go-build.sh"
require_go

host_archive=$(vendored "pulumi-language-python-v$PULUMI_PYTHON_HOST_VERSION.tar.gz")
dir="$PGHA_CACHE/build/pulumi-$PULUMI_VERSION"
rm -rf "$dir" && mkdir -p "$dir/cmd" "$PGHA_TOOLCHAIN/bin"
tar -xzf "$host_archive" -C "$dir/cmd"
host="$dir/cmd/pulumi-language-python"
# The host's direct requirements at its pinned versions; the CLI's pkg/sdk replace its local ones.
host_requires=$(cd "$host" && go mod edit -json | python3 -c '
import json, sys
for r in json.load(sys.stdin)["Require"]:
    if not r.get("Indirect") and not r["Path"].startswith("github.com/pulumi/pulumi/"):
        print("-require=" + r["Path"] + "@" + r["Version"])')
mv "$host/go.sum" "$dir/go.sum" && rm "$host/go.mod"

cd "$dir"
go mod init pgha.local/toolchain >/dev/null 2>&1
# shellcheck disable=SC2086 # one flag per line
go mod edit \
  -require="github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" \
  -require="github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION" \
  -replace="github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e" \
  $host_requires

stamp=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version
go_build "$PGHA_TOOLCHAIN/bin/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$stamp=v$PULUMI_VERSION"
go_build "$PGHA_TOOLCHAIN/bin/pulumi-language-python.tmp" ./cmd/pulumi-language-python \
  "$stamp=v$PULUMI_PYTHON_HOST_VERSION"

# The host's helper scripts, from the sdk module of the CLI's version (the module cache drops exec bits).
sdk=$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$PGHA_TOOLCHAIN/bin/"
install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$PGHA_TOOLCHAIN/bin/"

mv "$PGHA_TOOLCHAIN/bin/pulumi-language-python.tmp" "$PGHA_TOOLCHAIN/bin/pulumi-language-python"
mv "$PGHA_TOOLCHAIN/bin/pulumi.tmp" "$PGHA_TOOLCHAIN/bin/pulumi"
"$PGHA_TOOLCHAIN/bin/pulumi" version
