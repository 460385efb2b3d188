"""A rolling update of the node image by `pulumi up`, as a drill injects it: the stack's own configuration with
pgha:nodeImageRevision raised by one (a new image, rebuilt from Debian's packages), then back to it. Each `pulumi up`
replaces the PostgreSQL members one at a time (components/rolling_update.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from pgha.actions.deploys import config_file, up, with_changes

KEY = "pgha:nodeImageRevision"


def with_next_revision(source: Path, into: Path) -> int:
    """Writes `source` with the revision raised by one to `into`; returns the new revision."""
    config = (yaml.safe_load(source.read_text()) or {}).get("config") or {}
    revision = int(config.get(KEY, 0)) + 1
    with_changes(source, into, {KEY: str(revision)})
    return revision


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
