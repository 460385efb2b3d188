"""pgha's PgBouncer pools: a node pool in front of this node's PostgreSQL (read-only traffic) and a leader pool
that follows the cluster's leader (read-write traffic), and this process, which keeps the leader pool on it.

A change of primary then costs the leader pool's clients a wait instead of an error. When Patroni is asked for a
switchover (its failover key appears) the pool PAUSEs: running transactions finish on the old primary, new ones
wait in PgBouncer. When the leader key goes or names another member, the pool pauses too (a pause that a dead or
frozen primary keeps from finishing cuts the clients it waits for after PAUSE_GRACE_S), and as soon as the new leader is out
of recovery (its Patroni says so) the pool is pointed there (RELOAD) and RESUMEs. Client sessions so outlive the old primary.
Standard library only (PgBouncer's admin console is spoken to over its unix socket, where it needs no password).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime

SOCKET_DIR = "/run/pgbouncer"
LEADER_TARGET = f"{SOCKET_DIR}/leader.ini"  # %included by the leader pool's configuration
NODE_POOL = ("/etc/pgbouncer/pgbouncer.ini", 6432)
LEADER_POOL = ("/etc/pgbouncer/pgbouncer-leader.ini", 6433)
# Until a leader is known the leader pool is paused; clients wait, and this address would refuse them anyway.
NO_LEADER = "127.0.0.1", 5432
PAUSE_GRACE_S = 1.0  # how long a lost leader's running transactions may take before their clients are cut
PRIMARY_POLL_S = 0.025
PRIMARY_DEADLINE_S = 30.0  # PgBouncer's query_wait_timeout fails held clients after 30 s anyway
# A watch that said nothing this long may be on a member cut off from the quorum, which hears of no change and says
# nothing either: it is checked, by the range read of the next opening (linearizable, on the next member).
WATCH_SILENT_S = 3.0
RETRY_S = 0.5


def log(message: str) -> None:
    now = time.time()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(now))}.{int(now % 1 * 1000):03d} UTC pools: {message}",
        flush=True,
    )


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


class Etcd:
    """etcd's v3 JSON gateway, trying each client URL in turn. `turn` is the member a watch is opened on: the last
    that answered a range (a linearizable read, so one in the quorum then); every watch opened moves it on, so
    that a watch opened again never goes back to the same member, dead or cut off, time after time."""

    def __init__(self, endpoints: list[str]):
        self.endpoints, self.turn = endpoints, 0

    def range(self, key: str, range_end: str) -> tuple[int, dict[str, str]]:
        """(revision, {key: value}) for the keys in [key, range_end), asked of the members from `turn` on."""
        errors = []
        for step in range(len(self.endpoints)):
            index = (self.turn + step) % len(self.endpoints)
            endpoint = self.endpoints[index]
            body = json.dumps({"key": b64(key), "range_end": b64(range_end)}).encode()
            request = urllib.request.Request(
                f"{endpoint}/v3/kv/range", data=body, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    answer = json.loads(response.read())
            except (urllib.error.URLError, OSError, ValueError) as exc:
                errors.append(f"{endpoint}: {exc}")
                continue
            kvs = {unb64(kv["key"]): unb64(kv.get("value", "")) for kv in answer.get("kvs", [])}
            self.turn = index
            return int(answer["header"]["revision"]), kvs
        raise ConnectionError("; ".join(errors))

    def get(self, key: str) -> str | None:
        return self.range(key, key + "\0")[1].get(key)

    def watch(self, key: str, range_end: str, start_revision: int, silent_s: float = WATCH_SILENT_S):
        """Yields (key, value or None when deleted) for changes from start_revision on, until the stream ends; raises
        TimeoutError once it has said nothing for `silent_s`."""
        endpoint = self.endpoints[self.turn % len(self.endpoints)]
        self.turn += 1  # the next range, and so the next watch, starts at the next member
        url = urllib.parse.urlsplit(endpoint)
        if url.hostname is None:
            raise ValueError(f"not an etcd URL: {endpoint!r}")
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=silent_s)
        create = {"key": b64(key), "range_end": b64(range_end), "start_revision": start_revision}
        conn.request("POST", "/v3/watch", json.dumps({"create_request": create}), {"Content-Type": "application/json"})
        response, decoder, buffer = conn.getresponse(), json.JSONDecoder(), ""
        try:
            while chunk := response.read1(65536).decode():
                buffer += chunk
                while buffer.strip():
                    try:
                        message, end = decoder.raw_decode(buffer.lstrip())
                    except json.JSONDecodeError:
                        break
                    buffer = buffer.lstrip()[end:]
                    result = message.get("result", {})
                    if result.get("canceled") or result.get("compact_revision"):
                        return
                    for event in result.get("events", []):
                        kv = event["kv"]
                        yield unb64(kv["key"]), None if event.get("type") == "DELETE" else unb64(kv.get("value", ""))
        finally:
            conn.close()


class Console:
    """PgBouncer's admin console over the leader pool's unix socket, one session kept open: user pgbouncer needs no
    password there from PgBouncer's own uid; the console speaks the simple query protocol only."""

    def __init__(self, path: str):
        self.path, self.buffer = path, b""
        self.sock: socket.socket | None = None  # the session, once open

    def run(self, command: str, timeout: float = 5.0) -> list[dict[str, str]] | None:
        """The rows the command returns ([] for none), or None when it did not finish in time (a PAUSE waiting on
        a transaction: PgBouncer keeps pausing after the session is gone) or the console could not be reached."""
        try:
            if self.sock is None:
                self._open(timeout)
            self._session().settimeout(timeout)
            self._send(b"Q", command.encode() + b"\0")
            return self._result(command)
        except OSError as exc:  # a timeout included
            self.close()
            if not isinstance(exc, TimeoutError):
                log(f"admin {command}: {exc}")
            return None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    def _open(self, timeout: float) -> None:
        self.sock = sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(self.path)
        startup = struct.pack("!i", 196608) + b"user\0pgbouncer\0database\0pgbouncer\0\0"  # protocol 3.0
        sock.sendall(struct.pack("!i", len(startup) + 4) + startup)
        self._result("login")

    def _session(self) -> socket.socket:
        """The open session's socket: run() opens one before anything is sent or read."""
        if self.sock is None:
            raise ConnectionError("no admin session open")
        return self.sock

    def _send(self, kind: bytes, payload: bytes) -> None:
        self._session().sendall(kind + struct.pack("!i", len(payload) + 4) + payload)

    def _message(self) -> tuple[bytes, bytes]:
        while len(self.buffer) < 5 or len(self.buffer) < 1 + struct.unpack("!i", self.buffer[1:5])[0]:
            chunk = self._session().recv(65536)
            if not chunk:
                raise ConnectionError("PgBouncer closed the admin session")
            self.buffer += chunk
        end = 1 + struct.unpack("!i", self.buffer[1:5])[0]
        kind, payload, self.buffer = self.buffer[:1], self.buffer[5:end], self.buffer[end:]
        return kind, payload

    def _result(self, what: str) -> list[dict[str, str]]:
        """The messages up to ReadyForQuery: the rows, if any; an error is logged."""
        columns, rows = [], []
        while True:
            kind, payload = self._message()
            if kind == b"R" and struct.unpack("!i", payload[:4])[0] != 0:
                raise ConnectionError("the admin console asks for a password")
            if kind == b"T":
                columns = row_description(payload)
            elif kind == b"D":
                rows.append(dict(zip(columns, data_row(payload), strict=False)))
            elif kind == b"E":
                log(f"admin {what}: {error_message(payload)}")
            elif kind == b"Z":
                return rows


def row_description(payload: bytes) -> list[str]:
    names, at = [], 2
    for _ in range(struct.unpack("!h", payload[:2])[0]):
        end = payload.index(b"\0", at)
        names.append(payload[at:end].decode())
        at = end + 1 + 18  # table oid, column number, type oid, type size, type modifier, format
    return names


def data_row(payload: bytes) -> list[str]:
    values, at = [], 2
    for _ in range(struct.unpack("!h", payload[:2])[0]):
        length = struct.unpack("!i", payload[at : at + 4])[0]
        at += 4
        values.append("" if length < 0 else payload[at : at + length].decode())
        at += max(length, 0)
    return values


def error_message(payload: bytes) -> str:
    fields = {part[:1]: part[1:].decode(errors="replace") for part in payload.split(b"\0") if part}
    return fields.get(b"M", "error")


def stuck_clients(console: Console) -> list[str]:
    """The ids of the clients whose transactions hold a server connection (on a primary that will not finish them)."""
    linked = {server["link"] for server in console.run("SHOW SERVERS") or [] if server.get("link")}
    return [client["id"] for client in console.run("SHOW CLIENTS") or [] if client.get("ptr") in linked]


def write_target(host: str, port: int) -> None:
    temporary = f"{LEADER_TARGET}.new"
    with open(temporary, "w") as file:
        file.write(f"[databases]\n* = host={host} port={port}\n")
    os.replace(temporary, LEADER_TARGET)


class LeaderPool:
    """The leader pool's state: which member it points at, whether it holds its clients."""

    def __init__(self, etcd: Etcd, prefix: str, console: Console):
        self.etcd, self.prefix, self.console = etcd, prefix, console
        self.target: str | None = None
        self.paused = False
        # The request the pool was held for, and the leader it takes the pool away from: never resumed to while the
        # request stands. A request read again (a watch opened again reads it) holds the pool once only.
        self.held_for: str | None = None
        self.leaving: str | None = None
        self.scheduled_at: float | None = None  # a scheduled switchover's time (epoch seconds), while still to come

    def pause(self, why: str, planned: bool = True) -> None:
        """Holds new transactions. A planned pause (a switchover) waits up to PRIMARY_DEADLINE_S for the running ones,
        then resumes; an unplanned one (the leader is gone) cuts what still runs after PAUSE_GRACE_S."""
        if self.paused:
            return
        self.paused, started = True, time.monotonic()
        if self.console.run("PAUSE", timeout=PRIMARY_DEADLINE_S if planned else PAUSE_GRACE_S) is not None:
            log(f"paused ({why}) in {time.monotonic() - started:.3f}s")
            return
        waited = time.monotonic() - started
        if planned:
            # The primary is alive: what still runs is the clients' own long transaction, not a lost primary's. Holding
            # on fails every waiting client (query_wait_timeout); cutting would fail the running ones. Let all go on.
            self.resume()
            log(f"PAUSE ({why}) not done after {waited:.1f}s: resumed, no client cut")
            return
        # A dead, frozen or cut-off primary never finishes what runs on it: cut those clients, hold the others.
        stuck = stuck_clients(self.console)
        for client in stuck:
            self.console.run(f"KILL_CLIENT {client}")
        log(f"paused ({why}); {len(stuck)} transactions still running after {waited:.1f}s: their clients cut")

    def resume(self, *first: str) -> None:
        """RESUMEs the pool after `first` admin commands."""
        for command in (*first, "RESUME"):
            self.console.run(command)
        self.paused = False

    def writable_address(self, leader: str) -> tuple[str, int] | None:
        """The new leader's PostgreSQL address once it is out of recovery, or None if the leader changed meanwhile
        or it was not within PRIMARY_DEADLINE_S."""
        deadline = time.monotonic() + PRIMARY_DEADLINE_S
        while time.monotonic() < deadline:
            if self.etcd.get(f"{self.prefix}/leader") != leader:
                return None
            member = json.loads(self.etcd.get(f"{self.prefix}/members/{leader}") or "{}")
            if member.get("api_url") and _out_of_recovery(member["api_url"]):
                conn = urllib.parse.urlsplit(member["conn_url"])
                address = _resolved(conn.hostname or "")
                if address:
                    return address, conn.port or 5432
            time.sleep(PRIMARY_POLL_S)
        log(f"{leader} was not out of recovery within {PRIMARY_DEADLINE_S:.0f}s")
        return None

    def follow(self, leader: str | None) -> None:
        if leader == self.target and not self.paused:
            return
        if leader != self.target:
            self.pause("leader lost" if leader is None else f"{leader} leads now", planned=False)
        if leader is None or leader == self.leaving:
            return
        started = time.monotonic()
        address = self.writable_address(leader)
        if address is None:
            return
        write_target(*address)
        self.target = leader
        self.resume("RELOAD")
        log(f"following {leader} at {address[0]}:{address[1]}; writable after {time.monotonic() - started:.3f}s")

    def on_failover(self, value: str | None, leader: str | None) -> None:
        """A switchover request holds the clients, a scheduled one from its time on; once it is cleared (Patroni
        empties or deletes the key), a pool still paused with no change of leader (a refused request) is released."""
        request = json.loads(value) if value else {}
        at = scheduled_time(request)
        self.scheduled_at = at if at is not None and at > time.time() else None
        if request and self.scheduled_at is None and value != self.held_for:
            self.held_for, self.leaving = value, request.get("leader") or self.target
            self.pause("switchover requested" if at is None else f"switchover scheduled at {request['scheduled_at']}")
        elif not request:
            self.held_for = self.leaving = None
            if leader == self.target and self.paused:
                self.follow(leader)

    def silent_s(self) -> float:
        """How long a watch may say nothing before it is opened again: WATCH_SILENT_S, or until a scheduled
        switchover's time, whose request the range read of the next opening then finds due."""
        if self.scheduled_at is None:
            return WATCH_SILENT_S
        return min(WATCH_SILENT_S, max(self.scheduled_at - time.time(), 0.01))


def scheduled_time(request: dict) -> float | None:
    """A scheduled switchover's time (epoch seconds); None for a request to be run now. Patroni writes `scheduled_at`
    in ISO 8601 with its time zone, and refuses one without."""
    try:
        return datetime.fromisoformat(request["scheduled_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


def _resolved(host: str) -> str | None:
    """The member's address now. On a Swarm members are names, and a replaced task has a new address, which
    PgBouncer's own DNS cache would not see until it expires: the leader pool is pointed at the address itself."""
    try:
        return socket.gethostbyname(host)
    except OSError:
        return None


def _out_of_recovery(api_url: str) -> bool:
    """Whether a member's PostgreSQL takes writes. Not /primary: Patroni answers 200 there from the moment it holds
    the lock, before the promotion ends; /patroni's role comes from pg_is_in_recovery()."""
    try:
        with urllib.request.urlopen(api_url, timeout=1) as response:
            status = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return status.get("role") == "primary" and status.get("state") == "running"


def keep_on_leader(pool: LeaderPool) -> None:
    """Reads the failover and leader keys, then watches them; opened again whenever the watch ends."""
    first, last = f"{pool.prefix}/failover", f"{pool.prefix}/leader\0"  # failover, history, initialize, leader
    while True:
        try:
            revision, keys = pool.etcd.range(first, last)
            leader = keys.get(f"{pool.prefix}/leader")
            # The failover key first: a pool held for a switchover, with the old leader's key still there, must not
            # be resumed to it. It also holds for a request made while no watch was open.
            pool.on_failover(keys.get(f"{pool.prefix}/failover"), leader)
            pool.follow(leader)
            for key, value in pool.etcd.watch(first, last, revision + 1, pool.silent_s()):
                if key == f"{pool.prefix}/leader":
                    leader = value
                    pool.follow(leader)
                elif key == f"{pool.prefix}/failover":
                    pool.on_failover(value, leader)
        except TimeoutError:
            continue  # silent for WATCH_SILENT_S: checked and opened again at once, on the next member
        except Exception as exc:  # noqa: BLE001 - whatever breaks a watch (etcd stopped mid-stream ...), watch again
            log(f"etcd: {exc.__class__.__name__}: {exc}")
            time.sleep(RETRY_S)


def wait_for_socket(port: int, deadline_s: float = 30.0) -> None:
    path, deadline = f"{SOCKET_DIR}/.s.PGSQL.{port}", time.monotonic() + deadline_s
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"PgBouncer did not open {path} within {deadline_s:.0f}s")
        time.sleep(0.05)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", required=True, help="Patroni's namespace + scope, e.g. /pgha/pgha-dev")
    parser.add_argument("--etcd", required=True, help="comma-separated etcd client URLs")
    args = parser.parse_args(argv)
    write_target(*NO_LEADER)
    pools = [subprocess.Popen(["pgbouncer", config]) for config, _ in (NODE_POOL, LEADER_POOL)]
    ended = threading.Event()

    def forward(signum: int, _frame: object) -> None:
        for p in pools:
            p.send_signal(signum)

    def end_with(proc: subprocess.Popen) -> None:
        proc.wait()
        ended.set()

    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # HUP: a rotated password to read again
        signal.signal(number, forward)
    for proc in pools:
        threading.Thread(target=end_with, args=(proc,), daemon=True).start()
    wait_for_socket(LEADER_POOL[1])
    pool = LeaderPool(Etcd(args.etcd.split(",")), args.prefix, Console(f"{SOCKET_DIR}/.s.PGSQL.{LEADER_POOL[1]}"))
    pool.pause("starting: no leader followed yet")
    threading.Thread(target=keep_on_leader, args=(pool,), daemon=True).start()
    ended.wait()
    for proc in pools:
        if proc.poll() is None:
            proc.terminate()
    return next(p.returncode for p in pools if p.poll() is not None)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
