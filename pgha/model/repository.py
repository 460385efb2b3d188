"""The stacks' pgBackRest repositories on this Docker engine: one volume per stack, kept when the stack is
destroyed, and what it holds (`pgbackrest info`), read by a throwaway, network-less container of the node image
so that a stack's backups can be read when the stack is gone (a restore's preview, `make backups`)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from datetime import UTC, datetime

import docker.errors

from pgha import names
from pgha.clients import docker_api
from pgha.model.images import check_image
from pgha.model.render import REPOSITORY_PATH
from pgha.model.settings import BACKUP_KEY, NAMESPACE, Settings

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


def read_stanzas(stack: str, cipher_pass: str) -> dict[int, dict]:
    """Every cluster's stanza in the stack's repository, as `pgbackrest info --output=json` describes it, by the
    cluster's number; RuntimeError when the repository cannot be read."""
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
    return by_cluster(stack, json.loads(output, strict=False))


def by_cluster(stack: str, stanzas: list[dict]) -> dict[int, dict]:
    """`pgbackrest info` of a stack's repository as its clusters, by number, oldest first."""
    found = ((names.cluster_of(stack, s["name"]), s) for s in stanzas)
    return {number: info for number, info in sorted(found, key=lambda pair: pair[0] or 0) if number}


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


def newest_restorable(clusters: dict[int, dict]) -> int | None:
    return max((n for n, info in clusters.items() if backup_problem(info) is None), default=None)


def _read(stack: str, cipher_pass: str, key: str) -> tuple[dict[int, dict], list[str]]:
    try:
        return read_stanzas(stack, cipher_pass), []
    except (RuntimeError, subprocess.SubprocessError, ValueError) as exc:
        return {}, [f"{key}: cannot read the backups of stack {stack!r}: {exc}"]


def _restore_source(settings: Settings, clusters: dict[int, dict]) -> tuple[int, list[str]]:
    """The source cluster's number, checked: it holds a backup that reaches back to the target time."""
    source, key = settings.restore_from, f"{NAMESPACE}:restoreFrom"
    number = settings.restore_cluster or newest_restorable(clusters)
    if number is None:
        problem = backup_problem(clusters[max(clusters)]) if clusters else "it holds no backup yet"
        return 0, [f"{key}: nothing to restore in the repository of stack {source!r}: {problem}"]
    if number not in clusters:
        listed = ", ".join(map(str, clusters)) or "none"
        return 0, [
            f"{NAMESPACE}:restoreCluster: stack {source!r} had no cluster {number} (its repository holds: {listed})"
        ]
    info = clusters[number]
    problem = backup_problem(info)
    if problem:
        return 0, [f"{key}: nothing to restore in cluster {number} of stack {source!r}: {problem}"]
    target = settings.restore_target
    if target.kind == "time" and datetime.fromisoformat(target.value) < first_backup_end(info):
        return 0, [
            f"{NAMESPACE}:restoreTarget: {target.value} is before the first backup of stack {source!r} (cluster "
            f"{number}) ended ({first_backup_end(info).isoformat(sep=' ')}); choose a later time"
        ]
    return number, []


def new_cluster(settings: Settings, cipher_pass: str) -> tuple[Settings, list[str]]:
    """A new stack's cluster, numbered past the earlier ones its repository holds (`pulumi destroy` keeps it, and their
    backups stay restorable beside the new cluster's); with restoreFrom, the source cluster, checked before anything
    is created. A restore from the stack's own repository continues the cluster it restores."""
    stack, key = settings.stack, f"{NAMESPACE}:{BACKUP_KEY}"
    own, problems = _read(stack, cipher_pass, key) if exists(stack) else ({}, [])
    unreadable = [n for n, info in own.items() if backup_problem(info) not in (None, "it holds no backup yet")]
    if unreadable:
        problems.append(
            f"{key}: the repository of stack {stack!r} (volume {volume_name(stack)}, kept from earlier clusters) "
            f"holds backups this key cannot read (cluster {', '.join(map(str, unreadable))}): set the key they were "
            f"taken with, or drop them (make drop-backups STACK={stack})"
        )
    if problems or not settings.restore_from:
        return replace(settings, cluster=max(own, default=0) + 1), problems
    if settings.restore_from == stack:
        number, problems = _restore_source(settings, own)
        return replace(settings, cluster=number or 1, restore_cluster=number or 1), problems
    if not exists(settings.restore_from):
        source = settings.restore_from
        return settings, [
            f"{NAMESPACE}:restoreFrom: stack {source!r} has no repository on this Docker engine (no volume {volume_name(source)})"
        ]
    clusters, problems = _read(settings.restore_from, cipher_pass, f"{NAMESPACE}:restoreFrom")
    if problems:
        return settings, problems
    number, problems = _restore_source(settings, clusters)
    return replace(settings, cluster=max(own, default=0) + 1, restore_cluster=number or 1), problems


def running_cluster(settings: Settings, stanzas: tuple[str | None, str | None]) -> Settings:
    """A deployed stack's cluster, and the one it was restored from, as its repository host's environment names them."""
    own, restored = stanzas
    cluster = names.cluster_of(settings.stack, own) if own else None
    source = names.cluster_of(settings.restore_from, restored) if settings.restore_from and restored else None
    return replace(settings, cluster=cluster or 1, restore_cluster=source or settings.restore_cluster or 1)
