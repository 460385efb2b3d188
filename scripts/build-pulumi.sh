#!/usr/bin/env bash
# Builds the Pulumi CLI and its Python language host from their Go module sources (the module proxy
# is the only route here), stamped with their versions, into $PGHA_TOOLCHAIN/bin.
set -euo pipefail
. "$(dirname "$0")/env.sh"

command -v go >/dev/null || { echo "    Go 1.25 or newer is needed to build Pulumi here (no download route)" >&2; exit 1; }
export CGO_ENABLED=0 GOFLAGS=-mod=mod
stamp="github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
build_dir="$PGHA_CACHE/build"
mkdir -p "$build_dir" "$PGHA_TOOLCHAIN/bin"

# `go install pkg@version` refuses modules with replace lines; a tiny wrapper module sidesteps that.
wrapper() {
  local dir="$build_dir/$1"
  shift
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init "pgha.local/build/$(basename "$dir")" >/dev/null 2>&1
  go mod edit "$@"
}

go_build() {
  local version=$1 out=$2 pkg=$3
  echo "    go build $pkg@$version (several minutes on 2 cores; Go caches make a rebuild quick)"
  go build -trimpath -tags osusergo,grpcnotrace -ldflags "-s -w -X $stamp=v$version" -o "$out" "$pkg"
}

# The CLI: pkg and sdk at one version, plus the one non-local replace of pkg's own go.mod.
wrapper "pulumi-$PULUMI_VERSION" \
  -require="github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" \
  -require="github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION" \
  -replace="github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e"
go_build "$PULUMI_VERSION" "$PGHA_TOOLCHAIN/bin/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

# The Python language host, from the last sdk release that still carried it in the sdk module.
wrapper "python-host-$PULUMI_PYTHON_HOST_SDK_VERSION" \
  -require="github.com/pulumi/pulumi/sdk/v3@v$PULUMI_PYTHON_HOST_SDK_VERSION"
go_build "$PULUMI_PYTHON_HOST_SDK_VERSION" "$PGHA_TOOLCHAIN/bin/pulumi-language-python.tmp" \
  github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python

# The host's helper scripts, from the sdk module of the CLI's version (the module cache drops exec bits).
sdk=$(cd "$build_dir/pulumi-$PULUMI_VERSION" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$PGHA_TOOLCHAIN/bin/"
install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$PGHA_TOOLCHAIN/bin/"

mv "$PGHA_TOOLCHAIN/bin/pulumi-language-python.tmp" "$PGHA_TOOLCHAIN/bin/pulumi-language-python"
mv "$PGHA_TOOLCHAIN/bin/pulumi.tmp" "$PGHA_TOOLCHAIN/bin/pulumi"
"$PGHA_TOOLCHAIN/bin/pulumi" version
