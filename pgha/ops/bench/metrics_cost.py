"""What collecting metrics costs: pgbench (TPC-B through the read-write port) on one stack with pgha:metrics on and
off, turn by turn, with the CPU the collectors (Prometheus and the exporters) and the whole stack take meanwhile.

Each turn deploys the stack with a copy of its configuration (pgha/actions/deploys.py: its file is never written); the
last deploy brings back its own configuration.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from pgha import names
from pgha.actions import deploys
from pgha.clients import docker_api
from pgha.ops import target
from pgha.ops.bench import bench
from pgha.ops.drills import drill
from pgha.ops.target import Target

COLLECTORS = ("prometheus", "postgres-exporter", "pgbouncer-node-exporter", "pgbouncer-leader-exporter")


def cpu_seconds(stack: str) -> dict[str, float]:
    """CPU seconds each role's running containers have used so far (the engine's cgroup counters)."""
    used: dict[str, float] = {}
    for container in docker_api.labelled("containers", names.stack_label(stack)):
        if container.attrs["State"] != "running":
            continue
        stats = docker_api.client().api.stats(container.id, stream=False, one_shot=True)
        role = container.attrs["Labels"][names.ROLE_LABEL]
        used[role] = used.get(role, 0.0) + stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9
    return used


def _deploy(stack: str, metrics_on: bool, scratch: Path) -> Target:
    config = scratch / f"Pulumi.{stack}.yaml"
    deploys.with_changes(deploys.config_file(stack), config, {"pgha:metrics": "true" if metrics_on else "false"})
    deploys.up(stack, config)
    found = target.from_pulumi(stack)
    drill.wait_healthy(found, drill.CONVERGE_S)
    return found


def turn(t: Target, metrics_on: bool, clients: int, seconds: int) -> dict:
    """One pgbench run, and the cores (CPU seconds per second) each side used during it."""
    rw = bench.host_rw(t)
    with bench.client_containers(t, seconds + bench.SLACK_S + 120) as clients_at:
        before, start = cpu_seconds(t.stack), time.monotonic()
        result = bench.measure(clients_at["host"], rw, "tpcb", clients, seconds, t)
        after, wall = cpu_seconds(t.stack), time.monotonic() - start
    cores = {role: (after.get(role, 0.0) - before.get(role, 0.0)) / wall for role in after}
    return {
        "metrics": metrics_on,
        "tps": result.get("tps"),
        "p99_ms": result.get("p99_ms"),
        "error": result.get("error"),
        "collector_cores": round(sum(cores.get(r, 0.0) for r in COLLECTORS), 3),
        "stack_cores": round(sum(cores.values()), 3),
    }


def summary(turns: list[dict]) -> dict:
    """Medians of each side, the throughput ratio (off / on) and the collectors' share of the machine."""
    side = lambda on, key: statistics.median(t[key] for t in turns if t["metrics"] is on and t[key] is not None)  # noqa: E731
    on, off = side(True, "tps"), side(False, "tps")
    return {
        "tps_on": round(on, 1),
        "tps_off": round(off, 1),
        "cost_pct": round(100 * (off - on) / off, 1),
        "collector_cores": side(True, "collector_cores"),
        "stack_cores_on": side(True, "stack_cores"),
        "stack_cores_off": side(False, "stack_cores"),
    }


def run(stack: str, rounds: int, clients: int, seconds: int, report_dir: Path) -> Path:
    """`rounds` pairs of turns, on then off, and the stack back as its configuration says."""
    turns: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        try:
            for number in range(1, rounds + 1):
                for metrics_on in (True, False):
                    t = _deploy(stack, metrics_on, Path(scratch))
                    if not turns:
                        with bench.client_containers(t, 900) as clients_at:
                            bench.initialise(clients_at["net"], t, bench.SCALE)
                    turns.append(turn(t, metrics_on, clients, seconds))
                    print(f"round {number}, metrics {'on' if metrics_on else 'off'}: {turns[-1]}", flush=True)
        finally:
            deploys.up(stack, deploys.config_file(stack))
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / f"metrics-cost-{stack}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(
        json.dumps(
            {"stack": stack, "clients": clients, "seconds": seconds, "turns": turns, "summary": summary(turns)},
            indent=1,
        )
    )
    return path
