"""One view of a stack's health: Patroni members, etcd members, containers, HAProxy backends."""
from __future__ import annotations

import csv
import io
import subprocess
from dataclasses import dataclass, field

import requests

from pgha import patroni_api
from pgha.ops.target import Target


@dataclass
class Status:
    members: list[dict] = field(default_factory=list)  # Patroni's /cluster members
    etcd: dict[str, str] = field(default_factory=dict)  # member -> "healthy" or what went wrong
    containers: dict[str, str] = field(default_factory=dict)  # short name -> Docker state
    backends: dict[str, dict[str, str]] = field(default_factory=dict)  # HAProxy backend -> server -> status
    errors: list[str] = field(default_factory=list)  # what could not be asked
    synchronous_mode: object = False  # Patroni's dynamic setting: False, True or "quorum"


def _etcd_health(container: str) -> str:
    command = ["docker", "exec", container, "etcdctl", "--endpoints=http://127.0.0.1:2379",
               "--command-timeout=2s", "endpoint", "health"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=10)
    return "healthy" if result.returncode == 0 else (result.stderr.strip().splitlines() or ["unhealthy"])[-1][:80]


def _haproxy_backends(stats_url: str) -> dict[str, dict[str, str]]:
    text = requests.get(stats_url.rstrip("/") + "/;csv", timeout=2).text.lstrip("# ")
    backends: dict[str, dict[str, str]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["svname"] not in ("FRONTEND", "BACKEND") and row["pxname"] in ("read_write", "read_only"):
            backends.setdefault(row["pxname"], {})[row["svname"]] = row["status"]
    return backends


def gather(target: Target) -> Status:
    status = Status()
    containers = target.containers()
    status.containers = {name: c["State"] for name, c in sorted(containers.items())}
    try:
        status.members = patroni_api.cluster(target.patroni_apis)["members"]
        status.synchronous_mode = patroni_api.dynamic_config(target.patroni_apis).get("synchronous_mode", False)
    except ConnectionError as exc:
        status.errors.append(str(exc))
    for name, container in sorted(containers.items()):
        if name.startswith("etcd-"):
            running = container["State"] == "running"
            status.etcd[name] = _etcd_health(container["Names"][0].lstrip("/")) if running else container["State"]
    try:
        status.backends = _haproxy_backends(target.stats_url)
    except requests.RequestException as exc:
        status.errors.append(f"HAProxy stats: {exc.__class__.__name__}")
    return status


def problems(status: Status) -> list[str]:
    """What keeps the stack from healthy; empty when it is healthy."""
    found = list(status.errors)
    found += [f"container {n} is {s}" for n, s in status.containers.items() if s != "running"]
    found += [f"etcd {n}: {h}" for n, h in status.etcd.items() if h != "healthy"]
    postgres = [n for n in status.containers if n.startswith("postgres-")]
    found += patroni_api.member_problems(status.members, postgres)
    standbys = [m for m in status.members if m["role"] in ("sync_standby", "quorum_standby")]
    if status.synchronous_mode and len(status.members) > 1 and not standbys:
        found.append("no synchronous standby yet")
    up = lambda backend: [s for s, st in status.backends.get(backend, {}).items() if st == "UP"]  # noqa: E731
    if len(up("read_write")) != 1:
        found.append(f"HAProxy read_write has {len(up('read_write'))} servers UP, not 1")
    if len(up("read_only")) != len(postgres) - 1:
        found.append(f"HAProxy read_only has {len(up('read_only'))} servers UP, not {len(postgres) - 1}")
    return found


def table(status: Status) -> str:
    rows = [("member", "role", "state", "timeline", "lag", "haproxy rw/ro")]
    for m in sorted(status.members, key=lambda m: m["name"]):
        rw = status.backends.get("read_write", {}).get(m["name"], "-")
        ro = status.backends.get("read_only", {}).get(m["name"], "-")
        rows.append((m["name"], m["role"], m["state"], str(m.get("timeline", "-")), str(m.get("lag", 0)), f"{rw}/{ro}"))
    rows += [(name, "etcd", health, "", "", "") for name, health in status.etcd.items()]
    rows += [(n, "container", s, "", "", "") for n, s in status.containers.items() if not n.startswith(("postgres", "etcd"))]
    return aligned(rows)


def aligned(rows: list[tuple[str, ...]]) -> str:
    """Rows of cells as left-aligned columns, the first row being the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
