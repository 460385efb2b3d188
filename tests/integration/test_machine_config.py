"""`make up`'s stack preparation leaves the tracked stack file as it is: Pulumi gets a config file of this
machine's, holding the tracked settings plus this machine's salt."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pgha.model import stacks

ROOT = Path(__file__).resolve().parents[2]
# Ports and a subnet of its own (outside the pool default subnets come from): the default ones may belong to a
# running stack.
SETTINGS = """# an experiment
config:
  pgha:postgresNodes: "1"
  pgha:etcdNodes: "1"
  pgha:rwPort: "46432"
  pgha:roPort: "46433"
  pgha:statsPort: "47000"
  pgha:patroniPort: "48008"
  pgha:subnet: "10.214.254.0/24"
"""


@pytest.fixture
def tracked_stack():
    name = f"t-{uuid.uuid4().hex[:8]}"
    tracked = ROOT / f"Pulumi.{name}.yaml"
    tracked.write_text(SETTINGS)
    try:
        yield name, tracked
    finally:
        subprocess.run(["pulumi", "stack", "rm", "--yes", "--force", name], cwd=ROOT, capture_output=True, timeout=120)
        tracked.unlink(missing_ok=True)
        stacks.machine_config_file(name).unlink(missing_ok=True)


def prepare(name: str) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "pgha.model.stacks", "prepare", name],
        cwd=ROOT,
        text=True,
        capture_output=True,
        env=os.environ,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip())


def test_a_new_stack_is_created_without_writing_into_its_tracked_file(tracked_stack):
    name, tracked = tracked_stack
    config = prepare(name)
    assert tracked.read_text() == SETTINGS
    assert config.read_text().startswith(SETTINGS)
    salt = stacks.salt_of(config)
    assert salt.startswith("encryptionsalt: v1:")
    assert prepare(name) == config and stacks.salt_of(config) == salt, "a second prepare must keep the salt"
    # Pulumi reads the stack's settings through that file: a config value set there is seen.
    got = subprocess.run(
        ["pulumi", "config", "get", "pgha:postgresNodes", "--stack", name, "--config-file", str(config)],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert got.stdout.strip() == "1", got.stderr
    preview = subprocess.run(
        ["pulumi", "preview", "--stack", name, "--config-file", str(config)],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert preview.returncode == 0, preview.stdout[-2000:] + preview.stderr[-2000:]
    assert tracked.read_text() == SETTINGS
