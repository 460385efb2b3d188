"""A register workload beside a drill's writer, for the linearizability check (linearizability.py).

Several clients, each on its own connection through the read-write connection string, read, write and
compare-and-set a few keys at random. Every operation is timed with time.monotonic_ns() around it and given an
outcome: ok; failed, when it certainly did not take effect; unknown, when it may have. Each runs in a transaction of
its own (BEGIN, SET LOCAL statement_timeout, the statement, COMMIT), so a write takes effect only at its COMMIT: an
error before the COMMIT was sent fails it (the server rolls back an open transaction whose client is gone), as does
an error the server answered to the COMMIT itself; the session cut once the COMMIT was sent leaves it unknown. A
read, or a cas that found another value, is done once its statement answered: it wrote nothing.

One more client reads the same keys through the read-only connection string; those reads are measured for
staleness, not judged.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
import time
from dataclasses import asdict, dataclass, replace

import psycopg

from pgha.ops.target import Endpoint, Target

TABLE = "pgha_register"
CLIENTS = 4
KEYS = 3
INITIAL = 0  # every key's value when the workload starts; written values count up from 1, each written once
MISSING = -1  # what a read of a key whose row is not there records: no operation writes it, so the checker fails it
PAUSE_S = 0.01  # a client's pause between two operations
MAX_OPS = 40000  # operations begun by the read-write clients together; the read-only client has as many
MAX_S = 600.0
BACKOFF_S = (0.05, 1.0)  # a client's first and longest wait before it connects again after a failure
CONNECT_TIMEOUT_S = 2
STATEMENT_TIMEOUT = "2s"
# SQLSTATE classes of an error answered to a COMMIT that say nothing of the transaction's fate: the session was cut
# (connection exceptions, a shutdown) or the server failed in itself.
AMBIGUOUS_SQLSTATES = ("08", "57P", "58", "XX")
OK, FAILED, UNKNOWN = "ok", "failed", "unknown"


@dataclass(frozen=True)
class Op:
    client: int
    key: str
    kind: str  # read, write or cas
    call: int  # time.monotonic_ns() as the client began it
    value: int | None = None  # write: the value written; read: the value read
    expected: int | None = None  # cas: the value it must find
    new: int | None = None  # cas: the value it puts in its place
    swapped: bool | None = None  # cas: whether it found `expected`
    ret: int | None = None  # time.monotonic_ns() at its answer (or at its error); None while in flight
    outcome: str = ""  # ok, failed or unknown; "" while in flight
    error: str = ""

    def as_record(self) -> dict:
        """The operation as tools/lincheck reads it."""
        record = {k: v for k, v in asdict(self).items() if v is not None and k not in ("ret", "error")}
        return record | {"return": self.ret if self.ret is not None else self.call}


def classify(exc: psycopg.Error, commit_sent: bool, connection_alive: bool) -> str:
    """failed when the operation certainly did not take effect, unknown when it may have."""
    if not commit_sent:
        return FAILED
    sqlstate = getattr(exc, "sqlstate", None)
    if not connection_alive or sqlstate is None or sqlstate.startswith(AMBIGUOUS_SQLSTATES):
        return UNKNOWN
    return FAILED


def connect(target: Target, endpoints: list[Endpoint]) -> psycopg.Connection:
    return psycopg.connect(**target.connection_params(endpoints), connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)


def _close(conn: psycopg.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(psycopg.Error):
            conn.close()


class Workload:
    """The clients of one trial, on keys of their own (`<run>/<n>`). start() makes the keys, stop() ends the clients;
    history() is the read-write clients' operations, ro_reads() the read-only client's."""

    def __init__(
        self,
        target: Target,
        run: str,
        clients: int = CLIENTS,
        keys: int = KEYS,
        max_ops: int = MAX_OPS,
        max_s: float = MAX_S,
    ):
        self.target, self.max_ops, self.max_s = target, max_ops, max_s
        self.keys = [f"{run}/{n}" for n in range(keys)]
        self.stopping = threading.Event()
        self.deadline = 0.0
        self._ops: list[Op] = []  # the read-write clients', as each began
        self._ro: list[Op] = []
        self._lock = threading.Lock()
        self._values = itertools.count(INITIAL + 1)
        self._begun = itertools.count()
        self._threads = [
            threading.Thread(target=self._client, args=(n, target.rw_endpoints, self._ops, False), daemon=True)
            for n in range(clients)
        ]
        self._threads.append(
            threading.Thread(target=self._client, args=(clients, target.ro_endpoints, self._ro, True), daemon=True)
        )

    def start(self) -> None:
        with connect(self.target, self.target.rw_endpoints) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (key text PRIMARY KEY, value bigint NOT NULL)")
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {TABLE} (key, value) VALUES (%s, %s)", [(k, INITIAL) for k in self.keys])
        self.deadline = time.monotonic() + self.max_s
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ends the clients. One still waiting for an answer by then is left behind, its operation in flight."""
        self.stopping.set()
        until = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, until - time.monotonic()))

    def history(self) -> list[Op]:
        """The read-write operations; one still in flight is unknown, answered now."""
        return self._settled(self._ops)

    def ro_reads(self) -> list[Op]:
        return self._settled(self._ro)

    def _settled(self, ops: list[Op]) -> list[Op]:
        now = time.monotonic_ns()
        with self._lock:
            return [op if op.outcome else replace(op, ret=now, outcome=UNKNOWN) for op in ops]

    def _client(self, number: int, endpoints: list[Endpoint], ops: list[Op], read_only: bool) -> None:
        rng = random.Random()
        seen: dict[str, int] = {}  # the last value this client saw in each key: what its cas expects there
        begun = itertools.count() if read_only else self._begun
        conn: psycopg.Connection | None = None
        backoff = BACKOFF_S[0]
        while not self.stopping.is_set() and time.monotonic() < self.deadline:
            if conn is None:
                try:
                    conn = connect(self.target, endpoints)
                except psycopg.Error:
                    self.stopping.wait(backoff)
                    backoff = min(2 * backoff, BACKOFF_S[1])
                    continue
            if next(begun) >= self.max_ops:
                break
            op = self._choose(rng, number, seen, read_only)
            with self._lock:
                ops.append(op)
                index = len(ops) - 1
            done = self._perform(conn, op, index, ops)
            if done.outcome == OK:
                _remember(seen, done)
            if done.outcome == OK and not done.error:
                backoff = BACKOFF_S[0]
                self.stopping.wait(PAUSE_S)
                continue
            _close(conn)
            conn = None
            self.stopping.wait(backoff)
            backoff = min(2 * backoff, BACKOFF_S[1])
        _close(conn)

    def _choose(self, rng: random.Random, number: int, seen: dict[str, int], read_only: bool) -> Op:
        key, kind = rng.choice(self.keys), "read" if read_only else rng.choices(("read", "write", "cas"), (4, 3, 3))[0]
        call = time.monotonic_ns()
        if kind == "write":
            return Op(number, key, kind, call, value=next(self._values))
        if kind == "cas":
            return Op(number, key, kind, call, expected=seen.get(key, INITIAL), new=next(self._values))
        return Op(number, key, kind, call)

    def _perform(self, conn: psycopg.Connection, op: Op, index: int, ops: list[Op]) -> Op:
        """Runs the operation and records its answer in ops[index]. A read, or a cas that found another value, is
        done once its statement answered: it wrote nothing, so a COMMIT that then fails leaves it ok, with the error
        noted so that its client connects again."""
        commit_sent = False
        try:
            conn.execute("BEGIN")
            conn.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
            if op.kind == "read":
                row = conn.execute(f"SELECT value FROM {TABLE} WHERE key = %s", (op.key,)).fetchone()
                op = self._answer(ops, index, op, value=MISSING if row is None else int(row[0]))
            elif op.kind == "write":
                conn.execute(f"UPDATE {TABLE} SET value = %s WHERE key = %s", (op.value, op.key))
            else:
                row = conn.execute(
                    f"UPDATE {TABLE} SET value = %s WHERE key = %s AND value = %s RETURNING value",
                    (op.new, op.key, op.expected),
                ).fetchone()
                # One that found another value changed nothing: it is done, whatever its COMMIT does.
                op = self._answer(ops, index, op, swapped=False) if row is None else replace(op, swapped=True)
            commit_sent = True
            conn.execute("COMMIT")
        except psycopg.Error as exc:
            error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            if op.outcome:  # answered before its COMMIT
                return self._record(ops, index, replace(op, error=error))
            outcome = classify(exc, commit_sent, not (conn.closed or conn.broken))
            return self._answer(ops, index, op, outcome=outcome, error=error)
        return op if op.outcome else self._answer(ops, index, op)

    def _answer(self, ops: list[Op], index: int, op: Op, outcome: str = OK, **fields) -> Op:
        return self._record(ops, index, replace(op, ret=time.monotonic_ns(), outcome=outcome, **fields))

    def _record(self, ops: list[Op], index: int, op: Op) -> Op:
        with self._lock:
            ops[index] = op
        return op


def _remember(seen: dict[str, int], op: Op) -> None:
    """What an acknowledged operation tells its client of the key's value."""
    if op.kind in ("read", "write") and op.value is not None:
        seen[op.key] = op.value
    elif op.kind == "cas" and op.swapped and op.new is not None:
        seen[op.key] = op.new
