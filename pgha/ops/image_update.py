"""A rolling update of the node image by `pulumi up`, as a drill injects it: the stack's own configuration with
pgha:nodeImageRevision raised by one (a new image, rebuilt from Debian's packages), then back to it. Each `pulumi up`
replaces the PostgreSQL members one at a time (components/rolling_update.py)."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import yaml

from pgha.model import stacks

KEY = "pgha:nodeImageRevision"
UP_TIMEOUT_S = 900  # a first build of the node image takes minutes on 2 cores


def config_file(stack: str) -> Path:
    """The file the stack's configuration is in: this machine's (`make up`, pgha/model/stacks.py), else the
    project's Pulumi.<stack>.yaml (`pulumi config set`, as the post-deploy tests do)."""
    machine = stacks.machine_config_file(stack)
    return machine if machine.exists() else stacks.ROOT / f"Pulumi.{stack}.yaml"


def with_next_revision(source: Path, into: Path) -> int:
    """Writes `source` with the revision raised by one to `into`; returns the new revision."""
    document = yaml.safe_load(source.read_text()) or {}
    config = document.setdefault("config", {}) or {}
    revision = int(config.get(KEY, 0)) + 1
    document["config"] = config | {KEY: str(revision)}
    into.write_text(yaml.safe_dump(document, sort_keys=False))
    return revision


def up(stack: str, config: Path) -> None:
    argv = ["pulumi", "up", "--yes", "--skip-preview", "--stack", stack, "--config-file", str(config)]
    done = subprocess.run(argv, cwd=stacks.ROOT, capture_output=True, text=True, timeout=UP_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"pulumi up failed: {(done.stdout + done.stderr)[-2000:]}")


def roll_forward(stack: str) -> int:
    """`pulumi up` with the next node image revision; the stack's file is left as it is. Returns the revision."""
    with tempfile.TemporaryDirectory() as scratch:
        changed = Path(scratch) / f"Pulumi.{stack}.yaml"
        revision = with_next_revision(config_file(stack), changed)
        up(stack, changed)
    return revision


def roll_back(stack: str) -> None:
    """`pulumi up` with the stack's own configuration again."""
    up(stack, config_file(stack))
