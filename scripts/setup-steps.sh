# Steps of scripts/setup.sh; each one is a no-op when its result already exists.
# shellcheck shell=bash

BASE_IMAGE=pgha-base:trixie
PULUMI_INSTALL_URL=https://get.pulumi.com

now_ms() { date +%s%3N; }

step() {
  local name=$1 start rc=0
  shift
  start=$(now_ms)
  echo "==> $name"
  "$@" || rc=$?
  local ms=$(($(now_ms) - start))
  printf '    %s: %s in %d.%01ds\n' "$name" "$([ $rc -eq 0 ] && echo ok || echo FAILED)" $((ms / 1000)) $((ms % 1000 / 100))
  return $rc
}

wait_for() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "    $what not ready after ${seconds}s" >&2
      return 1
    fi
    sleep 0.5
  done
}

apt_install() {
  if [ -z "${PGHA_APT_UPDATED:-}" ]; then
    apt-get update -qq
    PGHA_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Whether the official Pulumi download site answers (machines with internet take the normal route).
official_pulumi_reachable() {
  curl -fsS --max-time 5 -o /dev/null "$PULUMI_INSTALL_URL" 2>/dev/null
}

docker_engine() {
  if docker info >/dev/null 2>&1; then
    echo "    already running"
    return
  fi
  command -v dockerd >/dev/null || { echo "    installing Debian's docker.io"; apt_install docker.io; }
  echo "    starting dockerd without its userland proxy (log: $PGHA_HOME/dockerd.log)"
  # Published ports then go through the kernel's NAT instead of a docker-proxy process per port, which cost
  # the client path a third of its throughput (`make bench`). An engine the user runs is left as it is.
  setsid nohup dockerd --userland-proxy=false >"$PGHA_HOME/dockerd.log" 2>&1 </dev/null &
  wait_for "docker engine" 60 docker info
  loopback_only_from_loopback
}

# Docker's NAT of ports published on 127.0.0.1 also answers packets for 127.0.0.1 that arrive from another host
# of the LAN (moby#41872; Docker 28 drops them, Debian's 20.10 does not): drop what claims a loopback
# destination but did not come in on lo, as the kernel does when Docker has not made 127/8 routable.
loopback_only_from_loopback() {
  local rule=(PREROUTING -d 127.0.0.0/8 ! -i lo -j DROP)
  iptables -t raw -C "${rule[@]}" 2>/dev/null || iptables -t raw -I "${rule[@]}"
}

pulumi_toolchain() {
  if [ -x "$PGHA_TOOLCHAIN/bin/pulumi" ] && [ -x "$PGHA_TOOLCHAIN/bin/pulumi-language-python" ]; then
    echo "    cached: $PGHA_TOOLCHAIN"
    return
  fi
  if official_pulumi_reachable; then
    echo "    installing from $PULUMI_INSTALL_URL"
    curl -fsSL "$PULUMI_INSTALL_URL" | sh -s -- --version "$PULUMI_VERSION" --install-root "$PGHA_TOOLCHAIN" --no-edit-path
  else
    "$PGHA_ROOT/scripts/build-pulumi.sh"
  fi
}

python_venv() {
  # The packages come from PyPI once per set of pins, as wheels kept outside the checkout; the venv is the
  # checkout's own, so its `pgha` command (an editable install) runs this checkout's code, not another clone's.
  local key wheels stamp
  key=$(cat "$PGHA_ROOT"/requirements*.txt <(python3 --version) | sha256sum | cut -c1-16)
  wheels="$PGHA_CACHE/wheels/$key"
  stamp="$key $(sha256sum "$PGHA_ROOT/pyproject.toml" | cut -c1-16)"
  [ -L "$PGHA_VENV" ] && rm "$PGHA_VENV"   # a venv shared through the cache, as earlier versions made it
  if [ "$(cat "$PGHA_VENV/.pgha-stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "    up to date: $PGHA_VENV"
    return 0
  fi
  rm -rf "$PGHA_VENV"
  python3 -m venv "$PGHA_VENV"
  if [ ! -f "$wheels/.complete" ]; then
    echo "    fetching wheels into $wheels"
    "$PGHA_VENV/bin/pip" wheel -q --disable-pip-version-check -w "$wheels" -r "$PGHA_ROOT/requirements-dev.txt"
    touch "$wheels/.complete"
  fi
  echo "    installing into $PGHA_VENV from $wheels"
  "$PGHA_VENV/bin/pip" install -q --disable-pip-version-check --no-index --find-links "$wheels" \
    -r "$PGHA_ROOT/requirements-dev.txt"
  "$PGHA_VENV/bin/pip" install -q --disable-pip-version-check --no-index --no-build-isolation --no-deps \
    -e "$PGHA_ROOT"
  echo "$stamp" >"$PGHA_VENV/.pgha-stamp"
}

pulumi_backend() {
  mkdir -p "$PGHA_HOME/state"
  if [ ! -s "$PULUMI_CONFIG_PASSPHRASE_FILE" ]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$PULUMI_CONFIG_PASSPHRASE_FILE")
    echo "    new passphrase in $PULUMI_CONFIG_PASSPHRASE_FILE (keep it: it unlocks every stack's secrets)"
  fi
  echo "    backend: $PULUMI_BACKEND_URL"
}

# Pulumi writes this machine's `encryptionsalt` into a stack file on first use; git leaves it out of what it
# tracks (.gitattributes), so deploying leaves tracked files unchanged.
stack_file_filter() {
  if ! git -C "$PGHA_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    echo "    not a git checkout: nothing to do"
    return
  fi
  git -C "$PGHA_ROOT" config filter.pulumi-stack-salt.clean "sed '/^encryptionsalt:/d'"
  git -C "$PGHA_ROOT" config filter.pulumi-stack-salt.smudge cat
  echo "    git leaves encryptionsalt lines of Pulumi.*.yaml out of the index"
}

debian_mirror() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(LABEL)' 2>/dev/null |
    awk '$3 == "Debian" && $2 !~ /-/ { print $1; exit }'
}

base_image() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "    present"
    return
  fi
  if timeout 60 docker pull -q debian:trixie-slim >/dev/null 2>&1; then
    docker tag debian:trixie-slim "$BASE_IMAGE"
    return
  fi
  local tarball="$PGHA_CACHE/base/trixie-minbase.tar"
  [ -s "$tarball" ] || debootstrap_rootfs "$tarball"
  docker import -c 'CMD ["/bin/bash"]' "$tarball" "$BASE_IMAGE" >/dev/null
}

debootstrap_rootfs() {
  local tarball=$1 mirror rootfs
  mirror=${PGHA_DEBIAN_MIRROR:-$(debian_mirror)}
  [ -n "$mirror" ] || { echo "    no Debian mirror found in apt's sources: set PGHA_DEBIAN_MIRROR" >&2; return 1; }
  command -v debootstrap >/dev/null || apt_install debootstrap
  rootfs=$(mktemp -d "$PGHA_CACHE/rootfs.XXXXXX")
  echo "    no registry answers: debootstrap trixie from $mirror"
  debootstrap --variant=minbase trixie "$rootfs" "$mirror" >"$PGHA_CACHE/debootstrap.log" 2>&1 ||
    { echo "    debootstrap failed; see $PGHA_CACHE/debootstrap.log" >&2; return 1; }
  mkdir -p "$(dirname "$tarball")"
  tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf "$rootfs"
}

# Where a plugin built from the vendored archives is kept: keyed by its version and the archives' checksums.
docker_plugin_build_dir() {
  local key
  key=$(grep -E "(pulumi-docker-v$PULUMI_DOCKER_VERSION|terraform-provider-docker-v$KREUZWERKER_DOCKER_VERSION)\.tar\.gz" \
    "$PGHA_ROOT/scripts/vendor.sha256" | sha256sum | cut -c1-12)
  echo "$PGHA_CACHE/plugins/docker-$PULUMI_DOCKER_VERSION-$key"
}

# Routes in order: the cached build, the normal download, a build from the vendored sources.
docker_plugin() {
  local installed="$PULUMI_HOME/plugins/resource-docker-v$PULUMI_DOCKER_VERSION/pulumi-resource-docker"
  local built
  built="$(docker_plugin_build_dir)/pulumi-resource-docker"
  if [ -x "$installed" ]; then
    echo "    installed: $installed"
    return
  fi
  if [ -x "$built" ]; then
    echo "    cached build: $built"
  elif official_pulumi_reachable; then
    pulumi plugin install resource docker "$PULUMI_DOCKER_VERSION"
    return
  elif [ -d "$PGHA_VENDOR_DIR" ]; then
    echo "    $PULUMI_INSTALL_URL does not answer: building from the sources in $PGHA_VENDOR_DIR (about 8 minutes)"
    mkdir -p "$(dirname "$built")"
    "$PGHA_ROOT/scripts/build-docker-plugin.sh" "$built.tmp" && mv "$built.tmp" "$built"
  else
    echo "    no route to the docker resource plugin $PULUMI_DOCKER_VERSION: no cached build in $(dirname "$built")," >&2
    echo "    $PULUMI_INSTALL_URL does not answer, and PGHA_VENDOR_DIR=$PGHA_VENDOR_DIR has no vendored sources" >&2
    return 1
  fi
  pulumi plugin install resource docker "$PULUMI_DOCKER_VERSION" --file "$built"
}

# The drills' linearizability checker (tools/lincheck): a static binary at $PGHA_LINCHECK, whose path env.sh keys by
# tools/lincheck's sources, so a build there is this source's. Its one dependency, porcupine, comes from the Go module
# proxy (GOPROXY, as Go is set up), checked against the committed go.sum.
lincheck() {
  if [ -x "$PGHA_LINCHECK" ]; then
    echo "    cached: $PGHA_LINCHECK"
    return
  fi
  command -v go >/dev/null || PATH="/usr/local/go/bin:$PATH"
  command -v go >/dev/null || { echo "    Go 1.21 or newer is needed to build tools/lincheck" >&2; return 1; }
  local out="$PGHA_LINCHECK.$$"
  mkdir -p "$(dirname "$PGHA_LINCHECK")"
  echo "    go build tools/lincheck -> $PGHA_LINCHECK"
  (cd "$PGHA_ROOT/tools/lincheck" &&
    CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags "-s -w" -o "$out" .) ||
    { rm -f "$out"; return 1; }
  # It must answer: an empty history is linearizable.
  echo '{"operations": []}' | "$out" - | grep -q '"linearizable":true' || { rm -f "$out"; return 1; }
  mv "$out" "$PGHA_LINCHECK"
}
