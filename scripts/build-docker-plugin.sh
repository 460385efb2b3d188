#!/usr/bin/env bash
# Builds the docker resource plugin from the vendored pulumi-docker and kreuzwerker sources (no registry
# here serves them) into $1, following shared/vendor/README.md: the Terraform provider becomes the
# `upstream` the provider module replaces, with pulumi-docker's patches applied, and the schema is embedded.
set -euo pipefail
. "$(dirname "$0")/env.sh"
. "$PGHA_ROOT/scripts/go-build.sh"
require_go
out=$1

provider_archive=$(vendored "pulumi-docker-v$PULUMI_DOCKER_VERSION.tar.gz")
upstream_archive=$(vendored "terraform-provider-docker-v$KREUZWERKER_DOCKER_VERSION.tar.gz")
dir="$PGHA_CACHE/build/docker-$PULUMI_DOCKER_VERSION"
rm -rf "$dir" && mkdir -p "$dir"
tar -xzf "$provider_archive" -C "$dir"
tar -xzf "$upstream_archive" -C "$dir"
mv "$dir/terraform-provider-docker" "$dir/pulumi-docker/upstream"

cd "$dir/pulumi-docker/upstream"
for patch in ../patches/*.patch; do git apply "$patch"; done
cd ../provider/cmd/pulumi-resource-docker
VERSION=$PULUMI_DOCKER_VERSION go run ./generate.go
cd ../..
go_build "$out" ./cmd/pulumi-resource-docker \
  "github.com/pulumi/pulumi-docker/provider/v5/pkg/version.Version=$PULUMI_DOCKER_VERSION"
