# Source me: `. scripts/env.sh` gives a shell where `pulumi` is pgha's CLI, with its backend and passphrase.
# Everything slow or stateful lives outside the checkout, so a fresh clone reuses it.
PGHA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
export PGHA_ROOT
export PGHA_CACHE="${PGHA_CACHE:-$HOME/.cache/pgha}"   # built toolchain, venvs, base rootfs
export PGHA_HOME="${PGHA_HOME:-$HOME/.pgha}"           # stack state and its passphrase

export PULUMI_VERSION=3.274.1
# The newest Python language host is its own Go module, which the module proxy here does not serve;
# sdk v3.79.0 is the last release whose sdk module still carried it (see README, "Toolchain").
export PULUMI_PYTHON_HOST_SDK_VERSION=3.79.0
export PULUMI_DOCKER_VERSION=5.1.0
export PGHA_TOOLCHAIN="$PGHA_CACHE/toolchain/pulumi-$PULUMI_VERSION-host-$PULUMI_PYTHON_HOST_SDK_VERSION"
export PGHA_VENV="$PGHA_ROOT/venv"

export PULUMI_HOME="$PGHA_CACHE/pulumi-home"
export PULUMI_BACKEND_URL="file://$PGHA_HOME/state"
export PULUMI_CONFIG_PASSPHRASE_FILE="$PGHA_HOME/passphrase"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

# The venv first: the language host runs the `python` it finds on PATH.
export VIRTUAL_ENV="$PGHA_VENV"
case ":$PATH:" in
  *":$PGHA_TOOLCHAIN/bin:"*) ;;
  *) export PATH="$PGHA_VENV/bin:$PGHA_TOOLCHAIN/bin:$PATH" ;;
esac
