"""One view of a stack's health: Patroni members, etcd members, containers, HAProxy backends."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

import requests

from pgha.clients import patroni_api
from pgha.clients import prometheus as metrics
from pgha.ops.target import Place, Target


@dataclass
class Status:
    members: list[dict] = field(default_factory=list)  # Patroni's /cluster members
    etcd: dict[str, str] = field(default_factory=dict)  # member -> "healthy" or what went wrong
    containers: dict[str, str] = field(default_factory=dict)  # short name -> Docker state
    # HAProxy instance -> backend -> server -> status, haproxy-1 first
    backends: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # what could not be asked
    synchronous_mode: object = False  # Patroni's dynamic setting: False, True or "quorum"
    alerts: list[str] = field(default_factory=list)  # firing in the stack's Prometheus: shown, not a problem


def is_member(name: str, role: str) -> bool:
    """`postgres-2` is a PostgreSQL member; `postgres-exporter-2` is not."""
    return re.fullmatch(rf"{role}-\d+", name) is not None


def _etcd_health(place: Place) -> str:
    command = [
        *place.exec_argv(),
        "etcdctl",
        "--endpoints=http://127.0.0.1:2379",
        "--command-timeout=2s",
        "endpoint",
        "health",
    ]
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
        if is_member(name, "etcd"):
            running = container["State"] == "running"
            status.etcd[name] = _etcd_health(target.place(name, container)) if running else container["State"]
    for i, url in enumerate(target.stats_urls, 1):
        try:
            status.backends[f"haproxy-{i}"] = _haproxy_backends(url)
        except requests.RequestException as exc:
            status.errors.append(f"haproxy-{i} stats: {exc.__class__.__name__}")
    return status


def with_alerts(status: Status, target: Target) -> Status:
    """The alerts firing in the stack's Prometheus, for a person's view; health (and `wait`) never asks for them."""
    if target.prometheus_url:
        try:
            status.alerts = metrics.firing(target.prometheus_url)
        except metrics.PrometheusError as exc:
            status.alerts = [f"Prometheus: {exc}"]
    return status


def problems(status: Status) -> list[str]:
    """What keeps the stack from healthy; empty when it is healthy."""
    found = list(status.errors)
    found += [f"container {n} is {s}" for n, s in status.containers.items() if s != "running"]
    found += [f"etcd {n}: {h}" for n, h in status.etcd.items() if h != "healthy"]
    postgres = [n for n in status.containers if is_member(n, "postgres")]
    found += patroni_api.member_problems(status.members, postgres)
    standbys = [m for m in status.members if m["role"] in ("sync_standby", "quorum_standby")]
    if status.synchronous_mode and len(status.members) > 1 and not standbys:
        found.append("no synchronous standby yet")
    for instance, backends in status.backends.items():
        for backend, wanted in (("read_write", 1), ("read_only", len(postgres) - 1)):
            up = sum(1 for state in backends.get(backend, {}).values() if state == "UP")
            if up != wanted:
                found.append(f"{instance} {backend} has {up} servers UP, not {wanted}")
    return found


def _routing(status: Status, member: str) -> str:
    """How each HAProxy instance sees a member, `rw/ro` per instance in order, e.g. `UP/DOWN UP/DOWN`."""
    state = lambda backends, name: backends.get(name, {}).get(member, "-")  # noqa: E731
    return " ".join(f"{state(b, 'read_write')}/{state(b, 'read_only')}" for b in status.backends.values()) or "-"


def table(status: Status) -> str:
    rows = [("member", "role", "state", "timeline", "lag", f"rw/ro by {', '.join(status.backends) or 'haproxy'}")]
    for m in sorted(status.members, key=lambda m: m["name"]):
        rows.append(
            (
                m["name"],
                m["role"],
                m["state"],
                str(m.get("timeline", "-")),
                str(m.get("lag", 0)),
                _routing(status, m["name"]),
            )
        )
    rows += [(name, "etcd", health, "", "", "") for name, health in status.etcd.items()]
    rows += [
        (n, "container", s, "", "", "")
        for n, s in status.containers.items()
        if not (is_member(n, "postgres") or is_member(n, "etcd"))
    ]
    rows += [(alert, "alert", "firing", "", "", "") for alert in status.alerts]
    return aligned(rows)


def aligned(rows: Sequence[tuple[str, ...]]) -> str:
    """Rows of cells as left-aligned columns, the first row being the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
