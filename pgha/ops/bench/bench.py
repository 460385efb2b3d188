"""`bench`: pgbench along every path into a deployed stack, in one interleaved run so the ratios are fair.

Every path is driven by the same pgbench (PostgreSQL 17's, from the node image), in two throwaway client
containers: one on the host's network, reaching the stack through its published ports as a user on this host
does, and one on the stack's network, reaching haproxy-1, the primary's PgBouncer and the primary's PostgreSQL
by name. That one takes the address the layout keeps for it, the one place besides the PgBouncers whose
application logins the nodes' pg_hba admits. The app password reaches them in a pgpass file written through stdin,
never on a command line.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from pgha import names
from pgha.clients import patroni_api
from pgha.model import host, layout
from pgha.ops.bench import bench_stats, loop, storm
from pgha.ops.drills import drill
from pgha.ops.target import Target

WORKLOADS = {"select-only": ("-S",), "tpcb": ()}  # pgbench's built-in scripts
SCALE = 10  # pgbench_accounts holds SCALE * 100,000 rows
LOGS = "/tmp/pgha-bench"  # inside a client container: pgbench's per-transaction logs of the current run
PGPASS = "/tmp/pgpass"
SLACK_S = 60  # what a pgbench run may take beyond its own duration (connecting, writing logs)


@dataclass(frozen=True)
class BenchPath:
    name: str
    client: str  # "host": through the published ports; "net": inside the stack network
    host: str
    port: int
    workloads: tuple[str, ...] = tuple(WORKLOADS)


def paths(target: Target, primary: str) -> list[BenchPath]:
    node = names.member_index(primary)
    return [
        BenchPath("host-rw", "host", *target.rw),
        BenchPath("host-ro", "host", *target.ro, workloads=("select-only",)),
        BenchPath("haproxy", "net", target.container("haproxy-1"), layout.HAPROXY_RW_PORT),
        BenchPath("pgbouncer", "net", target.container(f"pgbouncer-{node}"), layout.PGBOUNCER_LEADER_PORT),
        BenchPath(bench_stats.DIRECT, "net", target.container(primary), layout.POSTGRES_PORT),
    ]


def host_rw(target: Target) -> BenchPath:
    """The user's read-write path: `rwEndpoint` through the published port, HAProxy, then PgBouncer."""
    return next(p for p in paths(target, patroni_api.current_leader(target.patroni_apis)) if p.name == "host-rw")


def pgpass_line(user: str, password: str) -> str:
    """A pgpass entry for the user on any host, port and database (':' and '\\' escaped as libpq wants)."""
    escape = lambda text: text.replace("\\", "\\\\").replace(":", "\\:")  # noqa: E731
    return f"*:*:*:{escape(user)}:{escape(password)}\n"


def pgbench_argv(path: BenchPath, workload: str, clients: int, seconds: int, target: Target) -> list[str]:
    """One timed run with prepared statements, logging every transaction (`-l`) for the percentiles; `-n`:
    no vacuum before the run, which would otherwise hit whichever path runs first. One thread per client:
    pgbench prepares a script's statements synchronously, so with several clients on a thread, one waiting
    for a pooled server connection blocks clients of its thread that hold one mid-transaction, and behind
    PgBouncer (pool 20) TPC-B at 64 clients stalls until query_wait_timeout."""
    return [
        "pgbench",
        "-n",
        "-M",
        "prepared",
        "-l",
        "-T",
        str(seconds),
        "-c",
        str(clients),
        "-j",
        str(clients),
        *WORKLOADS[workload],
        "-h",
        path.host,
        "-p",
        str(path.port),
        "-U",
        target.user,
        target.database,
    ]


@dataclass(frozen=True)
class ClientContainer:
    name: str

    def run(self, argv: list[str], timeout: float, stdin: str | None = None) -> subprocess.CompletedProcess:
        command = ["docker", "exec", *(["-i"] if stdin else []), "-e", f"PGPASSFILE={PGPASS}", self.name, *argv]
        return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout)


def _start(
    name: str, image: str, network: str, address: str | None, lifetime_s: int, target: Target
) -> ClientContainer:
    """A container that only sleeps, for at most lifetime_s, so even a killed bench leaves nothing behind."""
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--rm",
            "--name",
            name,
            "--network",
            network,
            *(["--ip", address] if address else []),
            "--label",
            f"pgha.bench={target.stack}",
            "--entrypoint",
            "sleep",
            image,
            str(lifetime_s),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    client = ClientContainer(name)
    written = client.run(
        ["sh", "-c", f"umask 077 && cat > {PGPASS}"], 30, stdin=pgpass_line(target.user, target.password)
    )
    if written.returncode != 0:
        raise RuntimeError(f"{name}: could not write the pgpass file: {written.stderr.strip()}")
    return client


def net_client_address(stack: str) -> str:
    """The address the layout keeps for the bench's client on the stack's network (Layout.bench_client)."""
    network = host.stack_network(stack)
    if network is None or not network[1]:
        raise RuntimeError(f"stack {stack} has no network on this engine with an IPv4 subnet")
    return layout.subnet_address(network[1], layout.BENCH_CLIENT_OFFSET)


@contextmanager
def client_containers(target: Target, lifetime_s: int) -> Iterator[dict[str, ClientContainer]]:
    if target.is_swarm:
        # Its clients are containers of this machine's engine, on the stack's network there: a Swarm stack's network
        # is an overlay on the nodes, which this engine is not one of.
        raise RuntimeError(f"bench: stack {target.stack} runs on a Swarm; its clients run on one engine only, for now")
    image = next(iter(target.containers("postgres").values()))["Image"]
    containers = {"host": target.container("bench-host"), "net": target.container("bench-net")}
    networks = {"host": "host", "net": names.network(target.stack)}
    addresses = {"host": None, "net": net_client_address(target.stack)}
    try:
        yield {
            kind: _start(containers[kind], image, networks[kind], addresses[kind], lifetime_s, target)
            for kind in containers
        }
    finally:
        subprocess.run(["docker", "rm", "-f", *containers.values()], capture_output=True, timeout=60)


def initialise(net: ClientContainer, target: Target, scale: int) -> None:
    """pgbench's tables, once, through the read-write path (haproxy-1), quietly."""
    argv = [
        "pgbench",
        "-i",
        "-q",
        "-s",
        str(scale),
        "-h",
        target.container("haproxy-1"),
        "-p",
        str(layout.HAPROXY_RW_PORT),
        "-U",
        target.user,
        target.database,
    ]
    done = net.run(argv, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench -i failed: {bench_stats.first_error(done.stderr)}")


def measure(
    client: ClientContainer, path: BenchPath, workload: str, clients: int, seconds: int, target: Target
) -> dict:
    """One pgbench run and its figures; a run that failed keeps pgbench's last message instead."""
    argv = shlex.join(pgbench_argv(path, workload, clients, seconds, target))
    done = client.run(["sh", "-c", f"rm -rf {LOGS} && mkdir {LOGS} && cd {LOGS} && exec {argv}"], seconds + SLACK_S)
    cell = {"path": path.name, "workload": workload, "clients": clients}
    if done.returncode != 0:
        return cell | {"error": bench_stats.first_error(done.stderr)}
    logs = client.run(["sh", "-c", f"cat {LOGS}/pgbench_log.*"], SLACK_S).stdout
    return cell | bench_stats.run_figures(done.stdout, logs)


def port_publishing(port: int, proc: Path = Path("/proc")) -> str:
    """How the engine carries a published port on this host: a docker-proxy process per port (the userland proxy,
    every byte through one more process) or the kernel's NAT (`dockerd --userland-proxy=false`)."""
    for cmdline in proc.glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        if argv[0].endswith(b"docker-proxy") and str(port).encode() in argv:
            return "docker-proxy"
    return "kernel NAT"


def plan(client_counts: list[int], runs: int, all_paths: list[BenchPath]) -> list[tuple[BenchPath, str, int]]:
    """Every (path, workload, clients) once per run, the paths innermost: each cell's paths run back to back."""
    cells = [(p, w, c) for w in WORKLOADS for c in client_counts for p in all_paths if w in p.workloads]
    return cells * runs


def run(
    target: Target,
    client_counts: list[int],
    seconds: int,
    runs: int,
    storm_size: int,
    report_dir: Path,
    scale: int = SCALE,
    loops: int = 0,
) -> Path:
    """The pgbench cells, the storm, then `loops` timed rounds of the experiment loop on throwaway stacks."""
    drill.wait_healthy(target, drill.CONVERGE_S)
    primary = patroni_api.current_leader(target.patroni_apis)
    all_paths = paths(target, primary)
    steps = plan(client_counts, runs, all_paths)
    results = []
    with client_containers(target, len(steps) * (seconds + SLACK_S) + 600) as containers:
        initialise(containers["net"], target, scale)
        for number, (path, workload, clients) in enumerate(steps, 1):
            result = measure(containers[path.client], path, workload, clients, seconds, target)
            results.append(result)
            print(
                f"[{number}/{len(steps)}] {workload} c={clients} {path.name}: "
                + (result.get("error") or f"{result.get('tps', 0):.0f} tps, p99 {result.get('p99_ms')} ms"),
                flush=True,
            )
    storm_result = storm.run(target, primary, storm_size) if storm_size else None
    loop_rounds = loop.run(loops, target.stack) if loops else []
    report_dir.mkdir(parents=True, exist_ok=True)
    report = report_dir / f"bench-{target.stack}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    report.write_text(
        json.dumps(
            {
                "stack": target.stack,
                "primary": primary,
                "seconds": seconds,
                "runs": runs,
                "scale": scale,
                "publishing": port_publishing(target.rw[1]),
                "paths": [asdict(p) for p in all_paths],
                "results": results,
                "rows": bench_stats.ratio_rows([r for r in results if "error" not in r]),
                "storm": storm_result,
                "loop": loop_rounds,
            },
            indent=1,
        )
    )
    return report
