"""`pulumi up` and `pulumi destroy` of a stack as the drills run them: with the stack's own configuration, or a
copy of it with some keys changed (the stack's file is never written), or a new stack's of the drill's own."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import yaml

from pgha.model import stacks

UP_TIMEOUT_S = 900  # a first build of the node image takes minutes on 2 cores


def config_file(stack: str) -> Path:
    """The file the stack's configuration is in: this machine's (`make up`, pgha/model/stacks.py), else the
    project's Pulumi.<stack>.yaml (`pulumi config set`, as the post-deploy tests do)."""
    machine = stacks.machine_config_file(stack)
    return machine if machine.exists() else stacks.ROOT / f"Pulumi.{stack}.yaml"


def with_changes(source: Path, into: Path, changes: dict[str, str]) -> dict:
    """Writes `source` with the `changes` (full keys such as pgha:rwPort) set to `into`; returns the new config."""
    document = yaml.safe_load(source.read_text()) or {}
    config = (document.get("config") or {}) | changes
    document["config"] = config
    into.write_text(yaml.safe_dump(document, sort_keys=False))
    return config


def _pulumi(verb: str, stack: str, config: Path, *extra: str) -> float:
    """Runs a verb to the end; returns its wall time in seconds."""
    argv = ["pulumi", verb, "--yes", "--skip-preview", "--stack", stack, "--config-file", str(config), *extra]
    start = time.monotonic()
    done = subprocess.run(argv, cwd=stacks.ROOT, capture_output=True, text=True, timeout=UP_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"pulumi {verb} --stack {stack} failed: {(done.stdout + done.stderr)[-2000:]}")
    return round(time.monotonic() - start, 2)


def up(stack: str, config: Path, refresh: bool = False) -> float:
    return _pulumi("up", stack, config, *(["--refresh"] if refresh else []))


def destroy(stack: str, config: Path) -> float:
    return _pulumi("destroy", stack, config)


def backup_key(stack: str) -> str | None:
    """The backup key the stack's config sets, None when it uses this machine's."""
    done = subprocess.run(
        ["pulumi", "config", "get", stacks.BACKUP_KEY, "--stack", stack, "--config-file", str(config_file(stack))],
        cwd=stacks.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def new_stack(name: str, config: dict[str, str], key: str | None, into: Path) -> Path:
    """A new stack `name` with `config`, and the backup key `key` (a secret; None: this machine's), in the file
    `into`."""
    salt = stacks.create(name)
    into.write_text(yaml.safe_dump({"config": config}, sort_keys=False) + salt)
    if key:
        stacks.set_backup_key(name, into, key)
    return into


def remove_stack(name: str, config: Path) -> None:
    """Destroys a drill's own stack and forgets it."""
    destroy(name, config)
    stacks.pulumi("stack", "rm", "--yes", "--force", name, check=False)
