"""pgBackRest against a live stack: its stanza and first backup (`pulumi up`, components/pgbackrest.py), a backup
(`make backup`), the list of backups (`make backups`), and dropping a destroyed stack's repository.

pgBackRest runs inside the leader's container (`docker exec`, as postgres): every node mounts the stack's
repository, but only the primary can take a backup without a pgBackRest server on the other nodes. One backup at
a time per stack (a lock on this machine): pgBackRest's locks are per container, and its 2.55 expire can remove
a backup that another container is still taking. This code also runs in Pulumi's dynamic provider process.
"""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from pgha import docker_api
from pgha.model import repository
from pgha.model.render import stanza
from pgha.ops import rolling

BACKUP_TYPES = ("full", "diff", "incr")
LEADER_DEADLINE_S = 900.0  # a restored stack's first node replays the archive before it leads
BACKUP_TIMEOUT_S = 3600.0


def container(stack: str, member: str) -> str:
    return f"pgha-{stack}-{member}"


def pgbackrest(node: str, stack: str, *args: str, timeout: float = 300.0) -> str:
    """pgBackRest on the stack's stanza, in the container `node`."""
    argv = ["docker", "exec", node, "pgbackrest", f"--stanza={stanza(stack)}", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or [f"exit {done.returncode}"]
        raise RuntimeError(f"pgbackrest {args[-1]} in {node}: {lines[-1]}")
    return done.stdout


def running_leader(api_urls: list[str], deadline_s: float = LEADER_DEADLINE_S) -> str:
    """The member leading a running primary, once there is one."""
    deadline, seen = time.monotonic() + deadline_s, "no REST API answered"
    while time.monotonic() < deadline:
        try:
            found = rolling.members(api_urls)
            seen = ", ".join(f"{n}: {m.get('role')}/{m.get('state')}" for n, m in sorted(found.items()))
            leaders = [n for n, m in found.items() if m.get("role") == "leader" and m.get("state") == "running"]
            if leaders:
                return leaders[0]
        except RuntimeError:
            pass
        time.sleep(1.0)
    raise RuntimeError(f"no running primary within {deadline_s:.0f}s ({seen})")


@contextmanager
def _one_at_a_time(stack: str) -> Iterator[None]:
    locks = Path(os.environ.get("PGHA_HOME", Path.home() / ".pgha")) / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{stack}-backup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def info(stack: str, node: str) -> dict:
    found = json.loads(pgbackrest(node, stack, "--output=json", "info"))
    return found[0] if found else {}


def backup(stack: str, api_urls: list[str], kind: str = "incr") -> dict:
    """Takes a backup on the leader; returns it as `pgbackrest info` lists it (the newest)."""
    with _one_at_a_time(stack):
        node = container(stack, running_leader(api_urls))
        pgbackrest(node, stack, f"--type={kind}", "backup", timeout=BACKUP_TIMEOUT_S)
        return info(stack, node)["backup"][-1]


def initialize(stack: str, api_urls: list[str]) -> str:
    """The stanza, checked end to end (`pgbackrest check` archives a segment), and a first full backup when the
    repository holds none: a point in time is reachable from the start. Returns the newest backup's label."""
    with _one_at_a_time(stack):
        node = container(stack, running_leader(api_urls))
        pgbackrest(node, stack, "stanza-create")
        pgbackrest(node, stack, "check")
        if not info(stack, node).get("backup"):
            pgbackrest(node, stack, "--type=full", "backup", timeout=BACKUP_TIMEOUT_S)
        return info(stack, node)["backup"][-1]["label"]


def any_node(stack: str) -> str | None:
    running = docker_api.labelled("containers", f"pgha.stack={stack}", "pgha.role=postgres")
    names = sorted(c["Names"][0].lstrip("/") for c in running if c["State"] == "running")
    return names[0] if names else None


def listing(stack: str, cipher_pass: str | None) -> dict:
    """The stanza's `info`: from a running node, else (the stack is gone) from its kept repository."""
    node = any_node(stack)
    if node:
        return info(stack, node)
    if cipher_pass is None:
        raise RuntimeError(f"stack {stack} runs no node; reading its repository needs its key")
    return repository.read_info(stack, cipher_pass)


def _when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")


def table(stanza_info: dict) -> str:
    """One line per backup: when it ended, type, sizes, and the WAL it needs; then the archive's WAL range."""
    lines = ["| label | type | started | ended | database size | in repository | WAL from | WAL to |",
             "|---|---|---|---|---|---|---|---|"]
    for b in stanza_info.get("backup", []):
        lines.append(f"| {b['label']} | {b['type']} | {_when(b['timestamp']['start'])} | {_when(b['timestamp']['stop'])} "
                     f"| {_mb(b['info']['size'])} | {_mb(b['info']['repository']['delta'])} "
                     f"| {b['archive']['start']} | {b['archive']['stop']} |")
    for a in stanza_info.get("archive", []):
        lines.append(f"\narchive {a['id']}: WAL {a.get('min')} to {a.get('max')}")
    return "\n".join(lines)


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def drop(stack: str) -> None:
    """Removes a destroyed stack's repository: its backups and archived WAL are gone for good."""
    if any_node(stack) or docker_api.labelled("containers", f"pgha.stack={stack}"):
        raise RuntimeError(f"stack {stack} still has containers; destroy it first (make down STACK={stack})")
    docker_api.request("DELETE", f"/volumes/{repository.volume_name(stack)}")
