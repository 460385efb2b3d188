"""Client-side probes: a writer committing numbered rows through the read-write ports and a reader querying the
read-only ones, each recording every attempt with its outcome and timing. Each lists every HAProxy instance, as
the stack's connection string does: a new connection goes to the first instance that lets it in."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import psycopg

from pgha.ops.drills.timeline import Attempt
from pgha.ops.target import Endpoint, Target

PROBE_TABLE = "pgha_probe"
CONNECT_TIMEOUT_S = 2  # libpq's smallest useful value; it applies to each host in turn
STATEMENT_TIMEOUT = "2s"
WRITE = f"INSERT INTO {PROBE_TABLE} (run, seq) VALUES (%s, %s) RETURNING inet_server_addr()::text, pg_walfile_name(pg_current_wal_lsn())"
READ = "SELECT inet_server_addr()::text, pg_is_in_recovery()"


def ensure_table(target: Target) -> None:
    with _connect(target, target.rw_endpoints) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (run text, seq int, at timestamptz DEFAULT now(), PRIMARY KEY (run, seq))"
        )


def _connect(target: Target, endpoints: list[Endpoint]) -> psycopg.Connection:
    return psycopg.connect(**target.connection_params(endpoints), connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)


class Probe(threading.Thread):
    """Runs `attempt(conn, seq)` every `interval` seconds until stopped, at most `max_attempts` times."""

    def __init__(
        self,
        target: Target,
        endpoints: list[Endpoint],
        attempt: Callable,
        members_by_address: dict[str, str],
        interval: float = 0.02,
        max_attempts: int = 20000,
    ):
        super().__init__(daemon=True)
        self.target, self.endpoints, self.attempt = target, endpoints, attempt
        self.members_by_address, self.interval, self.max_attempts = members_by_address, interval, max_attempts
        self.attempts: list[Attempt] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        conn: psycopg.Connection | None = None
        for seq in range(1, self.max_attempts + 1):
            if self.stopping.is_set():
                break
            start = time.monotonic()
            try:
                conn = conn or _connect(self.target, self.endpoints)
                address, timeline = self.attempt(conn, seq)
                member = self.members_by_address.get(address.split("/")[0], address)
                self.attempts.append(Attempt(seq, start, time.monotonic(), True, member, timeline))
            except psycopg.Error as exc:
                self.attempts.append(
                    Attempt(seq, start, time.monotonic(), False, error=str(exc).strip().splitlines()[0][:160])
                )
                _close(conn)
                conn = None
            self.stopping.wait(max(0.0, self.interval - (time.monotonic() - start)))
        _close(conn)

    def stop(self, timeout: float = 30.0) -> None:
        self.stopping.set()
        self.join(timeout)
        if self.is_alive():
            raise TimeoutError(f"probe on {self.endpoints} did not stop within {timeout}s")


def _close(conn: psycopg.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(psycopg.Error):
            conn.close()


def writer(run: str) -> Callable:
    def write(conn: psycopg.Connection, seq: int) -> tuple[str, int]:
        with conn.transaction():
            conn.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
            row = conn.execute(WRITE, (run, seq)).fetchone()
            assert row is not None  # INSERT ... RETURNING: one row
            address, walfile = row
        return address, int(walfile[:8], 16)

    return write


def read(conn: psycopg.Connection, seq: int) -> tuple[str, int | None]:
    row = conn.execute(READ).fetchone()
    assert row is not None  # a SELECT without FROM: one row
    address, in_recovery = row
    if not in_recovery:
        raise psycopg.OperationalError("read-only endpoint answered from a primary")
    return address, None
