"""Post-deploy tests: they deploy a real stack of their own with `pulumi up`, break it, and destroy it."""

import json
import secrets
import subprocess
import uuid
from pathlib import Path

import pytest

from pgha.clients import docker_api
from pgha.model import repository
from pgha.model.settings import NAMESPACE, PASSWORD_KEYS
from pgha.ops import target
from pgha.ops.backups import backups

ROOT = Path(__file__).resolve().parents[2]
CONFIGURED_PASSWORD = ("pgha:appPassword", secrets.token_urlsafe(18))


# A second stack beside the session's with ports of its own, apart from every block a stack that sets none takes
# (5000-9908) and from the experiments' 25000...
SECOND_STACK_PORTS = {
    "rwPort": 16432,
    "roPort": 16433,
    "statsPort": 16500,
    "patroniPort": 16008,
    "prometheusPort": 16090,
}


def plaintext(settings: dict) -> list[str]:
    """`pgha:` settings as `pulumi config set-all` arguments."""
    return [a for k, v in settings.items() for a in ("--plaintext", f"pgha:{k}={v}")]


def pulumi(*args, stack, timeout=900, check=True):
    return subprocess.run(
        ["pulumi", *args, "--stack", stack], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=check
    )


def generated_passwords(stack: str) -> dict[str, str]:
    """The passwords the program generated, by key, as the stack's state holds them (decrypted here)."""
    state = json.loads(pulumi("stack", "export", "--show-secrets", stack=stack).stdout)
    # A shown secret is a map holding its value JSON-encoded under "plaintext".
    plain = lambda v: json.loads(v["plaintext"]) if isinstance(v, dict) else v  # noqa: E731
    return {
        r["urn"].rsplit("::", 1)[1]: plain(r["outputs"]["result"])
        for r in state["deployment"]["resources"]
        if r["type"] == "pulumi-python:dynamic/credentials:GeneratedPassword"
    }


def passwords_in_use(stack: str) -> dict[str, str]:
    """The passwords the stack runs with, by key: those its config sets (decrypted here) over the generated ones."""
    config = json.loads(pulumi("config", "--show-secrets", "--json", stack=stack).stdout)
    keys = {f"{NAMESPACE}:{key}": key for key in PASSWORD_KEYS}
    return generated_passwords(stack) | {keys[k]: entry["value"] for k, entry in config.items() if k in keys}


def container_ids(t: target.Target) -> dict[str, str]:
    """The stack's containers by short name, with their IDs: a replaced container shows as a new ID."""
    return {name: c["Id"] for name, c in t.containers().items()}


def docker_objects() -> dict[str, set[str]]:
    """Every container, volume and network on the engine, and every untagged image, labelled or not."""
    engine = docker_api.client()
    return {
        "containers": {c.id for c in engine.containers.list(all=True, sparse=True)},
        "volumes": {v.name for v in engine.volumes.list()},
        "networks": {n.id for n in engine.networks.list()},
        # IDs as listed: images.list would inspect each image, and fail on one removed meanwhile.
        "untagged images": set(engine.api.images(filters={"dangling": True}, quiet=True)),
    }


def leftovers(before: dict[str, set[str]]) -> dict[str, list[str]]:
    """What exists now and did not before: a deploy and destroy (image builds included) must leave nothing.
    Tagged component images stay on purpose: they are the build cache every stack shares."""
    after = docker_objects()
    return {kind: sorted(after[kind] - before[kind]) for kind in after if after[kind] - before[kind]}


def remove_stack(name: str) -> bool:
    """A test's stack gone: destroyed, removed from the backend with its stack file, its backups dropped. Returns
    whether the destroy had kept its backup repository, as it must."""
    pulumi("destroy", "--yes", "--skip-preview", stack=name, check=False)
    subprocess.run(["pulumi", "stack", "rm", "--yes", "--force", name], cwd=ROOT, capture_output=True, timeout=120)
    (ROOT / f"Pulumi.{name}.yaml").unlink(missing_ok=True)
    kept = repository.exists(name)
    if kept:
        backups.drop(name)
    return kept


@pytest.fixture(scope="session")
def deployed():
    """A stack of its own (unique name, own ports), deployed once for the session and always destroyed."""
    stack = f"t-{uuid.uuid4().hex[:6]}"
    before = docker_objects()
    subprocess.run(["pulumi", "stack", "init", stack], cwd=ROOT, capture_output=True, check=True, timeout=120)
    # No port: the stack takes a block no other stack holds, as any stack does. archiveTimeout: the lose-cluster
    # drill's writer outlasts it before the loss; backupSchedule: the scheduler takes an incremental backup during
    # the session (tests/deploy/test_recovery.py).
    config = plaintext({"archiveTimeout": 10, "backupSchedule": '{"incr": "2m"}'})
    # The program generates every password but this one: a secret in the config wins over the generated value.
    config += ["--secret", f"{CONFIGURED_PASSWORD[0]}={CONFIGURED_PASSWORD[1]}"]
    pulumi("config", "set-all", *config, stack=stack)
    try:
        up = pulumi("up", "--yes", "--skip-preview", stack=stack, check=False)
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        yield stack, target.from_pulumi(stack)
    finally:
        kept = remove_stack(stack)
        left = leftovers(before)
        assert not left, f"left behind after destroy: {json.dumps(left)[:2000]}"
        assert kept, f"destroy removed the backup repository {repository.volume_name(stack)}"
