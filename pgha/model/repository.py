"""The stacks' pgBackRest repositories on this Docker engine: one volume per stack, kept when the stack is
destroyed, and what it holds (`pgbackrest info`), read by a throwaway, network-less container of the node image
so that a stack's backups can be read when the stack is gone (a restore's preview, `make backups`)."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime

import docker.errors

from pgha import names
from pgha.clients import docker_api
from pgha.model.images import check_image
from pgha.model.render import REPOSITORY_PATH
from pgha.model.settings import NAMESPACE, Settings
from pgha.names import stanza

# The key comes on stdin, so it shows neither in a process list nor in the container's configuration.
READ_INFO = 'read -r key && PGBACKREST_REPO1_CIPHER_PASS="$key" exec pgbackrest --repo1-cipher-type=aes-256-cbc --output=json info'


def volume_name(stack: str) -> str:
    return names.backup_volume(stack)


def exists(stack: str) -> bool:
    try:
        docker_api.client().volumes.get(volume_name(stack))
    except docker.errors.NotFound:
        return False
    return True


def read_info(stack: str, cipher_pass: str) -> dict:
    """The stack's stanza as `pgbackrest info --output=json` describes it; RuntimeError when unreadable."""
    argv = [
        "docker",
        "run",
        "--rm",
        "-i",
        "--network",
        "none",
        "-v",
        f"{volume_name(stack)}:{REPOSITORY_PATH}:ro",
        "--entrypoint",
        "sh",
        check_image("patroni"),
        "-c",
        READ_INFO,
    ]
    done = subprocess.run(argv, input=(cipher_pass + "\n").encode(), capture_output=True, timeout=120)
    # Read with a wrong key, pgBackRest's messages quote the undecipherable bytes.
    output = (done.stdout or done.stderr).decode(errors="replace")
    if done.returncode != 0:
        raise RuntimeError(output.strip().splitlines()[-1])
    found = [s for s in json.loads(output, strict=False) if s["name"] == stanza(stack)]
    if not found:
        raise RuntimeError(f"no stanza {stanza(stack)} in it")
    return found[0]


def backup_problem(info: dict) -> str | None:
    """What keeps a stanza from being restored: no backup yet, or unreadable (a wrong key)."""
    status = info.get("status", {})
    if status.get("code") in (0, 4) and info.get("backup"):
        return None
    if status.get("code") in (0, 2):
        return "it holds no backup yet"
    messages = [r["status"]["message"] for r in info.get("repo", []) if r.get("status", {}).get("code")]
    first_line = (messages or [status.get("message") or "unreadable"])[0].splitlines()[0].split(" or ")[0]
    return f"{first_line}; is {NAMESPACE}:backupCipherPass the key of that repository?"


def first_backup_end(info: dict) -> datetime:
    return datetime.fromtimestamp(info["backup"][0]["timestamp"]["stop"], UTC)


def restore_problems(settings: Settings, cipher_pass: str) -> list[str]:
    """A new stack's restore source, checked before anything is created: its repository is on this engine,
    readable with the stack's key, holds a backup, and the backups reach back to the target time."""
    source, key = settings.restore_from, f"{NAMESPACE}:restoreFrom"
    if not exists(source):
        return [f"{key}: stack {source!r} has no repository on this Docker engine (no volume {volume_name(source)})"]
    try:
        info = read_info(source, cipher_pass)
    except (RuntimeError, subprocess.SubprocessError, ValueError) as exc:
        return [f"{key}: cannot read the backups of stack {source!r}: {exc}"]
    problem = backup_problem(info)
    if problem:
        return [f"{key}: nothing to restore in the repository of stack {source!r}: {problem}"]
    target = settings.restore_target
    if target.kind == "time" and datetime.fromisoformat(target.value) < first_backup_end(info):
        return [
            f"{NAMESPACE}:restoreTarget: {target.value} is before the first backup of stack {source!r} ended "
            f"({first_backup_end(info).isoformat(sep=' ')}); choose a later time"
        ]
    return []


def earlier_cluster_problems(stack: str, cipher_pass: str) -> list[str]:
    """A new stack that does not restore must not start over the repository an earlier cluster of its name left
    (`pulumi destroy` keeps it): that stanza belongs to another database, so the first backup would fail."""
    if not exists(stack):
        return []
    try:
        read_info(stack, cipher_pass)
    except RuntimeError as exc:
        if "no stanza" in str(exc):
            return []
    return [
        f"{NAMESPACE}:restoreFrom: stack {stack!r} is new, but its repository (volume {volume_name(stack)}, kept "
        f"when an earlier {stack!r} was destroyed) holds that cluster's backups: set {NAMESPACE}:restoreFrom to "
        f"{stack!r} to start from them, or drop them first (make drop-backups STACK={stack})"
    ]
