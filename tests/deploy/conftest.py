"""Post-deploy tests: they deploy a real stack of their own with `pulumi up`, break it, and destroy it.

They need the docker resource plugin. Where it is missing (see README, "Status"), they are reported as
skipped with that reason, loudly, rather than failing every other test with them.
"""
import json
import os
import secrets
import subprocess
import uuid
from pathlib import Path

import pytest

from pgha import docker_api, target
from pgha.settings import PASSWORD_KEYS

ROOT = Path(__file__).resolve().parents[2]


def plugin_path() -> Path:
    version = os.environ.get("PULUMI_DOCKER_VERSION", "")
    return Path(os.environ.get("PULUMI_HOME", "")) / "plugins" / f"resource-docker-v{version}" / "pulumi-resource-docker"


def pytest_collection_modifyitems(config, items):
    if plugin_path().is_file():
        return
    reason = f"NOT RUN: the docker resource plugin is missing ({plugin_path()}); `make up` cannot deploy either"
    for item in items:
        if "tests/deploy" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))


def pulumi(*args, stack, timeout=900, check=True):
    return subprocess.run(["pulumi", *args, "--stack", stack], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=check)


def leftovers(stack: str) -> dict[str, list]:
    label = f"pgha.stack={stack}"
    return {kind: docker_api.labelled(kind, label) for kind in ("containers", "volumes", "networks")}


@pytest.fixture(scope="session")
def deployed():
    """A stack of its own (unique name, own ports), deployed once for the session and always destroyed."""
    stack = f"t-{uuid.uuid4().hex[:6]}"
    subprocess.run(["pulumi", "stack", "init", stack], cwd=ROOT, capture_output=True, check=True)
    ports = {"rwPort": 15432, "roPort": 15433, "statsPort": 17000, "patroniPort": 18008}
    config = [a for k, v in ports.items() for a in ("--plaintext", f"pgha:{k}={v}")]
    config += [a for k in PASSWORD_KEYS for a in ("--secret", f"pgha:{k}={secrets.token_urlsafe(18)}")]
    pulumi("config", "set-all", *config, stack=stack)
    try:
        up = pulumi("up", "--yes", "--skip-preview", stack=stack, check=False)
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        yield stack, target.from_pulumi(stack)
    finally:
        pulumi("destroy", "--yes", "--skip-preview", stack=stack, check=False)
        subprocess.run(["pulumi", "stack", "rm", "--yes", "--force", stack], cwd=ROOT, capture_output=True)
        (ROOT / f"Pulumi.{stack}.yaml").unlink(missing_ok=True)
        left = leftovers(stack)
        assert left == {"containers": [], "volumes": [], "networks": []}, json.dumps(left)[:2000]
