"""pgha failover watcher: releases a dead primary's leader lock at once, instead of at lock expiry.

The Docker engine knows the moment a PostgreSQL container dies (its processes are gone, so it can no
longer accept writes). On that `die` event this watcher asks etcd, in one transaction guarded by
"the leader key still names that member, and its member key is as read", to delete the leader key and to
replace the member's key by one without `api_url` (on the same lease), so the candidate neither waits for the
lock's TTL nor for a 2 s probe of the dead node's REST API. A paused or partitioned primary is alive: no `die`
event, so it goes the TTL way.

The events come through the Docker SDK for Python (python3-docker); etcd is spoken to over its JSON gateway with
the standard library. Prometheus metrics (python3-prometheus-client) on --metrics-port: the deaths seen and the
locks released, by member, the releases that found no lock, etcd's failures, and the seconds from a death (the
engine's time of the event) to etcd's answer. Runs in its own container with the Docker socket mounted read-only.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import docker
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server

# From a local etcd's answer in a millisecond to one that took a retry on a busy host.
RELEASE_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# A watcher started anew (its container restarted or replaced) first reads the deaths of this last minute, which it
# was not there to see. Older ones are left to the ttl (20 s by default: their locks have expired by then).
STARTUP_LOOKBACK_S = 60.0
RETRY_MIN_S, RETRY_MAX_S = 0.1, 5.0  # the pauses before the event stream is opened again, doubling


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def release_txn(prefix: str, member: str, member_kv: dict | None) -> dict:
    """The etcd v3 transaction (JSON gateway form): if leader == member, delete it and strip the
    member's api_url. `prefix` is Patroni's `<namespace><scope>` with no trailing slash; `member_kv` is the
    member's key as read (Etcd.kv), None when it has none."""
    leader_key, member_key = f"{prefix}/leader", f"{prefix}/members/{member}"
    compare = [{"key": b64(leader_key), "target": "VALUE", "result": "EQUAL", "value": b64(member)}]
    success: list[dict] = [{"requestDeleteRange": {"key": b64(leader_key)}}]
    if member_kv:
        # The key was read in a request of its own: the transaction holds only if it is still what was read. Only
        # the member's Patroni writes it, so a change means that Patroni is back: the lock is then left to it.
        compare.append(
            {"key": b64(member_key), "target": "MOD", "result": "EQUAL", "mod_revision": member_kv["mod_revision"]}
        )
        data = {k: v for k, v in json.loads(member_kv["value"]).items() if k != "api_url"}
        data["state"] = "stopped"
        put = {"key": b64(member_key), "value": b64(json.dumps(data, separators=(",", ":")))}
        # Patroni puts its member key on its session's lease: rewritten on the same lease, the key of a member that
        # never comes back still goes when that lease expires, instead of being listed forever.
        if member_kv.get("lease"):
            put["lease"] = member_kv["lease"]
        success.append({"requestPut": put})
    return {"compare": compare, "success": success}


def dead_member(event: dict, stack: str) -> str | None:
    """The Patroni member whose container just died, for this stack's postgres containers only."""
    attributes = event.get("Actor", {}).get("Attributes", {})
    if event.get("Type") != "container" or event.get("Action") != "die":
        return None
    if attributes.get("pgha.stack") != stack or attributes.get("pgha.role") != "postgres":
        return None
    return attributes.get("pgha.member")


class Etcd:
    def __init__(self, endpoints: list[str]):
        self.endpoints = endpoints

    def call(self, path: str, body: dict) -> dict:
        errors = []
        for endpoint in self.endpoints:
            request = urllib.request.Request(
                f"{endpoint}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    answer = json.loads(response.read())
            except (urllib.error.URLError, OSError, ValueError) as exc:  # ValueError: no JSON (a cut answer ...)
                errors.append(f"{endpoint}: {exc}")
                continue
            if isinstance(answer, dict):
                return answer
            errors.append(f"{endpoint}: not a JSON object: {str(answer)[:80]}")
        raise ConnectionError("; ".join(errors))

    def kv(self, key: str) -> dict | None:
        """The key as etcd gives it (value decoded; lease and mod_revision as etcd's strings), None when absent."""
        kvs = self.call("/v3/kv/range", {"key": b64(key)}).get("kvs", [])
        return kvs[0] | {"value": base64.b64decode(kvs[0].get("value", "")).decode()} if kvs else None


def release(etcd: Etcd, prefix: str, member: str) -> bool:
    member_kv = etcd.kv(f"{prefix}/members/{member}")
    return bool(etcd.call("/v3/kv/txn", release_txn(prefix, member, member_kv)).get("succeeded"))


class Metrics:
    """The watcher's Prometheus metrics, registered in `registry` (the process's own when served)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY):
        self.die_events = Counter(
            "pgha_failover_watcher_die_events_total",
            "die events of the stack's PostgreSQL containers",
            ["member"],
            registry=registry,
        )
        self.locks_released = Counter(
            "pgha_failover_watcher_locks_released_total",
            "Leader locks released on the death of the member holding them",
            ["member"],
            registry=registry,
        )
        self.releases_without_lock = Counter(
            "pgha_failover_watcher_releases_without_lock_total",
            "Release transactions that found no lock to release (the dead member was not the leader)",
            registry=registry,
        )
        self.etcd_errors = Counter(
            "pgha_failover_watcher_etcd_errors_total",
            "Releases given up because no etcd endpoint answered (the lock then expires by TTL)",
            registry=registry,
        )
        self.die_to_release_seconds = Histogram(
            "pgha_failover_watcher_die_to_release_seconds",
            "Seconds from a die event (the engine's time of it) to etcd's answer to the release transaction",
            buckets=RELEASE_SECONDS_BUCKETS,
            registry=registry,
        )


def seconds_since(event: dict) -> float:
    """The time since the engine saw the event, by the engine's own clock (the host's, shared with this container)."""
    return time.time() - event["timeNano"] / 1e9


def handle(
    event: dict, stack: str, etcd: Etcd, prefix: str, metrics: Metrics, runs_again: Callable[[str], bool] | None = None
) -> None:
    """One engine event: the death of one of the stack's PostgreSQL members releases its leader lock, if it held it.
    `runs_again`, given for a death from before the stream was opened: whether a container of that member runs now."""
    member = dead_member(event, stack)
    if not member:
        return
    metrics.die_events.labels(member).inc()
    # A death read late: Docker may have restarted the container since (or Swarm started a new task), and a Patroni
    # there may hold the lock again. The release is sound only while no process of that member runs.
    if runs_again is not None and runs_again(member):
        log(f"{member} died {seconds_since(event):.1f}s ago and runs again: its lock, if any, is left to Patroni")
        return
    try:
        released = release(etcd, prefix, member)
    except ConnectionError as exc:
        metrics.etcd_errors.inc()
        log(f"{member} died, no etcd endpoint answered, the lock will expire by TTL: {exc}")
        return
    metrics.die_to_release_seconds.observe(seconds_since(event))
    if released:
        metrics.locks_released.labels(member).inc()
    else:
        metrics.releases_without_lock.inc()
    log(f"{member} died: " + ("leader lock released" if released else "it held no lock; nothing to do"))


def die_events(engine: docker.DockerClient, stack: str, since: str) -> Iterator[dict]:
    """The engine's `die` events of this stack's PostgreSQL containers from `since` on: those it still holds from
    before (at or after `since`), then as they happen. Read a line at a time (the engine sends one JSON object a
    line): a line that is not one is logged and skipped, where docker-py's decoding would stall on it for good."""
    filters = {"type": "container", "event": "die", "label": [f"pgha.stack={stack}", "pgha.role=postgres"]}
    buffer = b""
    for chunk in engine.events(since=since, decode=False, filters=filters):
        *lines, buffer = (buffer + (chunk if isinstance(chunk, bytes) else chunk.encode())).split(b"\n")
        for line in filter(bytes.strip, lines):
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            if isinstance(event, dict):
                yield event
            else:
                log(f"Docker event stream: not an event, skipped: {line[:200]!r}")


def member_runs(engine: docker.DockerClient, stack: str, member: str) -> bool:
    """Whether a container of the member has processes now (running, or paused); restarting has none yet."""
    labels = [f"pgha.stack={stack}", "pgha.role=postgres", f"pgha.member={member}"]
    filters = {"label": labels, "status": ["running", "paused"]}
    return bool(engine.containers.list(all=True, sparse=True, filters=filters))  # sparse: no inspect of each


class Cursor:
    """How far the event stream was read. A stream opened again starts there (`since`), so that no death in between
    is missed; the engine gives again the events at `since` itself, which were seen already."""

    def __init__(self, ns: int):
        self.ns, self.seen = ns, set[tuple[int, str]]()

    def since(self) -> str:
        return f"{self.ns // 10**9}.{self.ns % 10**9:09d}"  # the engine's <seconds>.<nanoseconds>

    def new(self, event: dict) -> bool:
        """Whether the event is one not seen yet, noting it."""
        at, key = event["timeNano"], (event["timeNano"], event.get("Actor", {}).get("ID", ""))
        if at < self.ns or key in self.seen:
            return False
        if at > self.ns:
            self.ns, self.seen = at, set()
        self.seen.add(key)
        return True


def watch(stack: str, etcd: Etcd, prefix: str, metrics: Metrics, docker_url: str) -> None:
    """The engine's die events, for good. A stream that ends or breaks (the engine restarted, the connection cut) is
    opened again from the last event, after a pause that doubles, up to RETRY_MAX_S, while the engine refuses."""
    cursor, delay = Cursor(time.time_ns() - int(STARTUP_LOOKBACK_S * 1e9)), RETRY_MIN_S
    engine: docker.DockerClient | None = None
    while True:
        opened_ns, opened = time.time_ns(), time.monotonic()
        try:
            engine = engine or docker.DockerClient(base_url=docker_url)
            late = functools.partial(member_runs, engine, stack)
            for event in die_events(engine, stack, cursor.since()):
                try:
                    if cursor.new(event):
                        handle(event, stack, etcd, prefix, metrics, late if event["timeNano"] < opened_ns else None)
                except Exception as exc:  # noqa: BLE001 - one event of an odd shape must not end the watch
                    log(f"event skipped: {exc.__class__.__name__}: {exc}: {json.dumps(event)[:200]}")
            log(f"the Docker event stream ended; opening it again from {cursor.since()}")
        except Exception as exc:  # noqa: BLE001 - whatever ends the stream (engine restarted, connection cut), reopen it
            log(f"Docker event stream: {exc.__class__.__name__}: {exc}; opening it again from {cursor.since()}")
        if time.monotonic() - opened > RETRY_MAX_S:
            delay = RETRY_MIN_S  # a stream that lived: the engine answers again
        time.sleep(delay)
        delay = min(2 * delay, RETRY_MAX_S)


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--prefix", required=True, help="Patroni's namespace + scope, e.g. /pgha/pgha-dev")
    parser.add_argument("--etcd", required=True, help="comma-separated etcd client URLs")
    # The stack passes pgha.model.layout's FAILOVER_WATCHER_METRICS_PORT.
    parser.add_argument("--metrics-port", type=int, default=9108, help="where Prometheus scrapes /metrics")
    # On one engine, the stack's Docker API proxy (components/docker_proxy.py), which lets only reads through.
    parser.add_argument(
        "--docker", default="unix:///var/run/docker.sock", help="the engine's API, as docker-py takes it"
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    metrics = Metrics()
    start_http_server(args.metrics_port, addr="0.0.0.0")
    etcd = Etcd(args.etcd.split(","))
    log(f"watching {args.stack}'s postgres containers; lock prefix {args.prefix}; metrics on :{args.metrics_port}")
    watch(args.stack, etcd, args.prefix, metrics, args.docker)
    return 1  # watch() returns never


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
