"""pgBackRest against a live stack, as `pulumi up` runs it (components/pgbackrest.py): its stanza and first backup;
and the primitives the backup verbs (pgha/ops/backups) build on.

Every command runs on the stack's repository host (`docker exec pgha-<stack>-pgbackrest`, as postgres), where
the scheduled backups run too: one container, so pgBackRest's own lock keeps backups and expiries one at a time.
This code also runs in Pulumi's dynamic provider process.
"""

from __future__ import annotations

import json
import subprocess
import time

from pgha import names
from pgha.actions import rolling

LEADER_DEADLINE_S = 900.0  # a restored stack's first node replays the archive before it leads
BACKUP_TIMEOUT_S = 3600.0
LOCKED = "unable to acquire lock"  # another backup or expiry runs (the schedule's): wait for it
# A new leader restarts PostgreSQL once more right after its bootstrap (a restored stack's does, to drop the
# recovery settings): pgBackRest then finds no primary for a moment.
NO_PRIMARY = "unable to find primary cluster"
PRIMARY_DEADLINE_S = 120.0
# `check` waits 60 s for the segment it switched to; a new cluster's archiver, whose first pushes failed before the
# stanza existed, may still be backing off then (CI once: "was not archived before the 60000ms timeout").
ARCHIVE_LATE = "was not archived before the"
ARCHIVE_DEADLINE_S = 240.0


def repository_host(stack: str) -> str:
    return names.container(stack, "pgbackrest")


def pgbackrest(node: str, *args: str, timeout: float = 300.0, every_stanza: bool = False) -> str:
    """pgBackRest in the container `node`, on the stanza its environment names (the cluster's own), or on every
    stanza of the repository: the earlier clusters' too."""
    unset = ["env", "-u", names.STANZA_ENV] if every_stanza else []
    argv = ["docker", "exec", node, *unset, "pgbackrest", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or [f"exit {done.returncode}"]
        error = next((line for line in reversed(lines) if "ERROR" in line), lines[-1])  # not its HINT
        raise RuntimeError(f"pgbackrest {args[-1]} in {node}: {error.strip()}")
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


def info(node: str) -> dict:
    """The `info` of the cluster's own stanza."""
    found = json.loads(pgbackrest(node, "--output=json", "info"))
    return found[0] if found else {}


def _waiting(stack: str, *args: str, until_gone: dict[str, float], timeout: float = 300.0) -> str:
    """pgBackRest on the repository host, tried again while it fails with an error of `until_gone` in its message,
    for at most that error's seconds from the first try."""
    start = time.monotonic()
    while True:
        try:
            return pgbackrest(repository_host(stack), *args, timeout=timeout)
        except RuntimeError as exc:
            waits = [seconds for error, seconds in until_gone.items() if error in str(exc)]
            if not waits or time.monotonic() - start > waits[0]:
                raise
        time.sleep(1.0)


def take(stack: str, kind: str) -> str:
    """One backup on the repository host, after the one running there (the schedule's) if any; its log."""
    return _waiting(
        stack,
        f"--type={kind}",
        "--log-level-console=info",
        "backup",
        until_gone={LOCKED: BACKUP_TIMEOUT_S},
        timeout=BACKUP_TIMEOUT_S,
    )


def initialize(stack: str, api_urls: list[str]) -> str:
    """Once the cluster has a running primary: the stanza, checked end to end (`pgbackrest check` archives a
    segment), and a first full backup when the repository holds none, so a point in time is reachable from the
    start. Returns the newest backup's label."""
    running_leader(api_urls)
    host = repository_host(stack)
    # A stack deployed again over its kept repository: the schedule may start a backup first, which holds the lock.
    for step in ("stanza-create", "check"):
        late = {ARCHIVE_LATE: ARCHIVE_DEADLINE_S} if step == "check" else {}
        _waiting(stack, step, until_gone={NO_PRIMARY: PRIMARY_DEADLINE_S, LOCKED: BACKUP_TIMEOUT_S} | late)
    if not info(host).get("backup"):
        take(stack, "full")
    return info(host)["backup"][-1]["label"]


def check(stack: str) -> None:
    """`pgbackrest check`: switches the primary to a new WAL segment and waits until the repository holds it."""
    pgbackrest(repository_host(stack), "check")
