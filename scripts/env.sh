# Source me: `. scripts/env.sh` gives a shell where `pulumi` is pgha's CLI, with its backend and passphrase.
# Everything slow or stateful lives outside the checkout, so a fresh clone reuses it.
PGHA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
export PGHA_ROOT
export PGHA_CACHE="${PGHA_CACHE:-$HOME/.cache/pgha}"   # built toolchain, venvs, base rootfs
export PGHA_HOME="${PGHA_HOME:-$HOME/.pgha}"           # stack state and its passphrase
# Public sources that no registry here serves (checked against scripts/vendor.sha256).
export PGHA_VENDOR_DIR="${PGHA_VENDOR_DIR:-$(dirname "$PGHA_ROOT")/shared/vendor}"

export PULUMI_VERSION=3.274.1
export PULUMI_PYTHON_HOST_VERSION=3.259.0
export PULUMI_DOCKER_VERSION=5.1.0
export KREUZWERKER_DOCKER_VERSION=4.5.0   # the Terraform provider pulumi-docker 5.1.0 bridges
export PGHA_TOOLCHAIN="$PGHA_CACHE/toolchain/pulumi-$PULUMI_VERSION-python-$PULUMI_PYTHON_HOST_VERSION"
export PGHA_VENV="$PGHA_ROOT/venv"
# The drills' linearizability checker (tools/lincheck), built by setup into the cache under a key of its sources, so
# that a change to them is a new build and every checkout with the same sources shares one.
PGHA_LINCHECK_KEY=$(cd "$PGHA_ROOT/tools/lincheck" && sha256sum go.mod go.sum ./*.go | sha256sum | cut -c1-16)
export PGHA_LINCHECK="$PGHA_CACHE/lincheck/$PGHA_LINCHECK_KEY/lincheck"

export PULUMI_HOME="$PGHA_CACHE/pulumi-home"
export PULUMI_BACKEND_URL="file://$PGHA_HOME/state"
export PULUMI_CONFIG_PASSPHRASE_FILE="$PGHA_HOME/passphrase"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# A stack file without `encryptionsalt` (a fresh checkout: the salt belongs to this machine's passphrase, so it
# is never committed) takes the salt the stack's state already has, instead of minting a new one.
export PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER=true

# The venv first, so that `python -m pgha` and pytest in a shell that sourced this run pgha's Python.
export VIRTUAL_ENV="$PGHA_VENV"
case ":$PATH:" in
  *":$PGHA_TOOLCHAIN/bin:"*) ;;
  *) export PATH="$PGHA_VENV/bin:$PGHA_TOOLCHAIN/bin:$PATH" ;;
esac
