# Shared by the Go builds of setup: one flag set, so that packages compiled for one program
# are reused from Go's build cache by the next.
# shellcheck shell=bash

export CGO_ENABLED=0 GOFLAGS=-mod=mod
GO_TAGS=osusergo,grpcnotrace,no_compose

require_go() {
  command -v go >/dev/null || { echo "    Go 1.25 or newer is needed to build the Pulumi toolchain here" >&2; exit 1; }
}

# go_build OUT PACKAGE STAMP: a static, stripped binary with its version stamped (-X STAMP).
go_build() {
  local out=$1 pkg=$2 stamp=$3
  echo "    go build $pkg ($stamp)"
  go build -trimpath -tags "$GO_TAGS" -ldflags "-s -w -X $stamp" -o "$out" "$pkg"
}

# vendored ARCHIVE: the path of a vendored source archive, after checking it against scripts/vendor.sha256.
vendored() {
  local archive=$1 expected
  expected=$(awk -v name="$archive" '$2 == name { print $1 }' "$PGHA_ROOT/scripts/vendor.sha256")
  [ -f "$PGHA_VENDOR_DIR/$archive" ] || { echo "    missing: $PGHA_VENDOR_DIR/$archive (set PGHA_VENDOR_DIR)" >&2; return 1; }
  echo "$expected  $PGHA_VENDOR_DIR/$archive" | sha256sum -c --quiet - >&2 ||
    { echo "    checksum mismatch: $PGHA_VENDOR_DIR/$archive" >&2; return 1; }
  echo "$PGHA_VENDOR_DIR/$archive"
}
