"""A connection storm: N clients connecting at once through one endpoint, each running one short transaction,
while PostgreSQL's server connections are sampled on the primary.

Python threads rather than `pgbench -C`: pgbench reconnects per transaction for the whole run instead of
connecting everyone at once, and it gives no per-client outcome; here each client's connect time and
success are its own, so "served" is an exact count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from pgha.ops.bench.bench_stats import percentile
from pgha.ops.target import Target

CONNECT_TIMEOUT_S = 15  # generous: a storm's connections queue in PgBouncer and HAProxy, they are not refused
SHORT_TRANSACTION = "SELECT abalance FROM pgbench_accounts WHERE aid = %s"
SAMPLE_EVERY_S = 0.1
SERVER_CONNECTIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE usename = '{user}' AND backend_type = 'client backend'"
)


@dataclass
class Client:
    number: int
    connect_s: float | None = None
    served: bool = False  # connected, ran its transaction and committed
    error: str = ""


@dataclass
class Storm:
    clients: list = field(default_factory=list)
    server_connections_peak: int = 0
    samples: int = 0

    def summary(self) -> dict:
        served = [c for c in self.clients if c.served]
        connects = [c.connect_s for c in served if c.connect_s is not None]
        errors = sorted({c.error for c in self.clients if c.error})
        return {
            "clients": len(self.clients),
            "served": len(served),
            "connect_p50_ms": round(percentile(connects, 0.5) * 1000, 1) if connects else None,
            "connect_p99_ms": round(percentile(connects, 0.99) * 1000, 1) if connects else None,
            "server_connections_peak": self.server_connections_peak,
            "samples": self.samples,
            "errors": errors[:5],
        }


def _one(target: Target, endpoint: tuple[str, int], client: Client, go: threading.Event) -> None:
    if not go.wait(CONNECT_TIMEOUT_S):
        client.error = "never started"
        return
    started = time.perf_counter()
    try:
        with psycopg.connect(
            host=endpoint[0],
            port=endpoint[1],
            dbname=target.database,
            user=target.user,
            password=target.password,
            connect_timeout=CONNECT_TIMEOUT_S,
        ) as conn:
            client.connect_s = time.perf_counter() - started
            conn.execute(SHORT_TRANSACTION, (client.number + 1,)).fetchone()
            conn.commit()
            client.served = True
    except psycopg.Error as exc:
        client.error = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]


def _sample(storm: Storm, count: Callable[[], int], busy: Callable[[], bool], deadline: float) -> None:
    """Server connections, sampled until the clients are done or the deadline: keeps the peak."""
    while busy() and time.monotonic() < deadline:
        try:
            storm.server_connections_peak = max(storm.server_connections_peak, count())
            storm.samples += 1
        except (RuntimeError, OSError):
            pass  # a sample that failed leaves the peak as it was
        time.sleep(SAMPLE_EVERY_S)


def run(target: Target, primary: str, size: int) -> dict:
    """`size` clients through rwEndpoint, released together; returns the storm's summary."""
    storm, go = Storm(clients=[Client(n) for n in range(size)]), threading.Event()
    threads = [threading.Thread(target=_one, args=(target, target.rw, c, go), daemon=True) for c in storm.clients]
    for t in threads:
        t.start()
    count = lambda: int(target.psql(primary, SERVER_CONNECTIONS.format(user=target.user), timeout=5))  # noqa: E731
    deadline = time.monotonic() + 3 * CONNECT_TIMEOUT_S
    sampler = threading.Thread(
        target=_sample, args=(storm, count, lambda: any(t.is_alive() for t in threads), deadline), daemon=True
    )
    go.set()
    sampler.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    sampler.join(max(0.0, deadline - time.monotonic()) + 5)
    for c in storm.clients:
        if not c.served and not c.error:
            c.error = "still running at the deadline"
    return storm.summary()
