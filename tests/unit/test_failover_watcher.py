"""The watcher's decisions and metrics, without Docker or etcd (it runs in its own image, so it is loaded by path):
etcd is tests/unit/etcd_fakes.py's, and the engine a stand-in that streams its event log as the engine does."""

import importlib.util
import json
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import docker.errors
import pytest
import requests.exceptions
from docker.utils.json_stream import json_stream
from prometheus_client import CollectorRegistry

from pgha.model.layout import FAILOVER_WATCHER_METRICS_PORT
from tests.unit.etcd_fakes import ENDPOINTS, FakeEtcd

PATH = Path(__file__).resolve().parents[2] / "docker" / "failover-watcher" / "watcher.py"
spec = importlib.util.spec_from_file_location("watcher", PATH)
assert spec is not None and spec.loader is not None  # a .py file's spec always has its loader
watcher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(watcher)

PREFIX = "/pgha/pgha-dev"
LEASE = 7587883468123456789  # Patroni's lease: its leader key and its member key are both attached to it


def member(index=1, state="running", role="primary"):
    return json.dumps(
        {
            "conn_url": f"postgres://10.0.0.2{index}:5432/postgres",
            "api_url": f"http://10.0.0.2{index}:8008/patroni",
            "state": state,
            "role": role,
        }
    )


@pytest.fixture
def etcd(monkeypatch):
    """A cluster led by postgres-1: its leader key and member key on its lease, postgres-2's on another."""
    fake = FakeEtcd()
    fake.put(f"{PREFIX}/leader", "postgres-1", LEASE)
    fake.put(f"{PREFIX}/members/postgres-1", member(1), LEASE)
    fake.put(f"{PREFIX}/members/postgres-2", member(2, role="replica"), LEASE + 1)
    monkeypatch.setattr(watcher.urllib.request, "urlopen", fake.urlopen)
    return fake


def release(member_name="postgres-1"):
    return watcher.release(watcher.Etcd(ENDPOINTS), PREFIX, member_name)


# --- the release transaction ---------------------------------------------------------------------------------------


def test_a_dead_leader_loses_its_lock_and_its_api_url(etcd):
    assert release() is True
    assert etcd.value(f"{PREFIX}/leader") is None
    rewritten = json.loads(etcd.value(f"{PREFIX}/members/postgres-1"))
    assert "api_url" not in rewritten and rewritten["conn_url"] == "postgres://10.0.0.21:5432/postgres"
    assert rewritten["state"] == "stopped"
    assert [path for _, path, _ in etcd.requests] == ["/v3/kv/range", "/v3/kv/txn"]


def test_a_dead_member_that_does_not_lead_changes_nothing(etcd):
    before = json.loads(json.dumps(etcd.keys))
    assert release("postgres-2") is False
    assert etcd.keys == before


def test_a_member_without_a_key_only_loses_the_lock(etcd):
    etcd.delete(f"{PREFIX}/members/postgres-1")
    assert release() is True
    assert sorted(etcd.keys) == [f"{PREFIX}/members/postgres-2"]


def test_the_rewritten_member_key_keeps_its_lease_so_a_leader_that_never_returns_goes_with_it(etcd):
    """Rewritten without its lease, the key outlives the lease: a dead leader listed forever."""
    release()
    assert etcd.keys[f"{PREFIX}/members/postgres-1"]["lease"] == LEASE
    etcd.expire(LEASE)  # the dead Patroni keeps nothing alive
    assert f"{PREFIX}/members/postgres-1" not in etcd.keys


def test_a_member_key_rewritten_between_the_read_and_the_transaction_is_left_as_written(etcd):
    """Its Patroni is back (a restarted container) and wrote its key after the watcher read it: the transaction is
    guarded by what was read, so it changes nothing, and the lock is left to Patroni."""
    back = member(1, state="starting")
    etcd.before["/v3/kv/txn"] = lambda: etcd.put(f"{PREFIX}/members/postgres-1", back, LEASE + 9)
    assert release() is False
    assert etcd.value(f"{PREFIX}/members/postgres-1") == back
    assert etcd.value(f"{PREFIX}/leader") == "postgres-1"


def test_an_endpoint_answering_no_json_is_passed_over_for_the_next(etcd):
    etcd.garbage.add(ENDPOINTS[0])
    assert release() is True
    assert etcd.value(f"{PREFIX}/leader") is None


# --- one event ------------------------------------------------------------------------------------------------------


def event(action="die", stack="dev", role="postgres", member="postgres-1", seconds_ago=0.0, at_ns=None):
    return {
        "Type": "container",
        "Action": action,
        "id": f"{member}-container",
        "timeNano": at_ns or time.time_ns() - int(seconds_ago * 1e9),
        "Actor": {
            "ID": f"{member}-container",
            "Attributes": {"pgha.stack": stack, "pgha.role": role, "pgha.member": member},
        },
    }


def test_only_this_stacks_postgres_deaths_count():
    assert watcher.dead_member(event(), "dev") == "postgres-1"
    assert watcher.dead_member(event(action="stop"), "dev") is None
    assert watcher.dead_member(event(stack="other"), "dev") is None
    assert watcher.dead_member(event(role="pgbouncer"), "dev") is None


@pytest.fixture
def registry():
    return CollectorRegistry()


def handle(registry, **event_fields):
    watcher.handle(event(**event_fields), "dev", watcher.Etcd(ENDPOINTS), PREFIX, watcher.Metrics(registry))


def sample(registry, name, **labels):
    """A metric's value; 0 for a member it has not counted yet (no such labelled series)."""
    return registry.get_sample_value(f"pgha_failover_watcher_{name}", labels) or 0


def test_a_released_lock_counts_the_death_the_release_and_the_delay_since_the_event(etcd, registry):
    handle(registry, member="postgres-1", seconds_ago=0.2)
    assert [path for _, path, _ in etcd.requests] == ["/v3/kv/range", "/v3/kv/txn"]
    assert sample(registry, "die_events_total", member="postgres-1") == 1
    assert sample(registry, "locks_released_total", member="postgres-1") == 1
    assert sample(registry, "releases_without_lock_total") == 0
    # Timed from the engine's time of the event, not from when the watcher read it.
    assert sample(registry, "die_to_release_seconds_count") == 1
    assert sample(registry, "die_to_release_seconds_sum") >= 0.2
    assert sample(registry, "die_to_release_seconds_bucket", le="0.1") == 0
    assert sample(registry, "die_to_release_seconds_bucket", le="5.0") == 1


def test_a_member_without_the_lock_counts_a_release_that_found_none(etcd, registry):
    handle(registry, member="postgres-2")
    assert sample(registry, "die_events_total", member="postgres-2") == 1
    assert sample(registry, "locks_released_total", member="postgres-2") == 0
    assert sample(registry, "releases_without_lock_total") == 1
    assert sample(registry, "die_to_release_seconds_count") == 1


def test_an_unreachable_etcd_counts_an_error_and_no_delay(etcd, registry):
    etcd.down.update(ENDPOINTS)
    handle(registry)
    assert sample(registry, "die_events_total", member="postgres-1") == 1
    assert sample(registry, "etcd_errors_total") == 1
    assert sample(registry, "die_to_release_seconds_count") == 0
    assert sample(registry, "releases_without_lock_total") == 0


def test_an_etcd_answering_no_json_anywhere_counts_an_error_and_raises_nothing(etcd, registry):
    etcd.garbage.update(ENDPOINTS)
    handle(registry)  # before: json.loads' ValueError, out of the event loop
    assert sample(registry, "etcd_errors_total") == 1
    assert etcd.value(f"{PREFIX}/leader") == "postgres-1"


def test_another_stacks_death_asks_nothing_and_counts_nothing(etcd, registry):
    handle(registry, stack="other")
    assert etcd.requests == [] and sample(registry, "die_events_total", member="postgres-1") == 0


def test_the_default_metrics_port_is_the_one_the_stack_passes():
    args = watcher.parse_args(["--stack", "dev", "--prefix", "/pgha/pgha-dev", "--etcd", "http://10.0.0.11:2379"])
    assert args.metrics_port == FAILOVER_WATCHER_METRICS_PORT


# --- the event stream -----------------------------------------------------------------------------------------------


class Opening:
    """One opening of the event stream: the deaths that happened before it (while no stream was open), what it
    streams live (events, or raw lines as the engine's chunks), and how it ends (an exception; None: closed)."""

    def __init__(self, before=(), live=(), ends=None, refused=None):
        self.before, self.live, self.ends, self.refused = list(before), list(live), ends, refused


class FakeEngine:
    """The engine as docker-py gives it: events(since=...) streams its log from `since` (the engine's buffered
    events at or after it), then the opening's live events; raw chunks, or decoded as docker-py decodes them.
    A live event is stamped as it is sent; a death before an opening, just after the last event of the log (or when
    its test said, for the first). After the last opening it raises SystemExit, which ends the test."""

    def __init__(self, *openings, running=()):
        self.openings, self.log, self.asked = list(openings), [], []
        self.running = set(running)  # members with a running container
        self.containers = SimpleNamespace(list=self._list)

    def events(self, since=None, until=None, filters=None, decode=None):
        self.asked.append({"since": since, "filters": filters, "decode": decode})
        if not self.openings:
            raise SystemExit("no more openings")
        opening = self.openings.pop(0)
        if opening.refused:
            raise opening.refused
        for death in opening.before:
            if self.log:
                death["timeNano"] = self.log[-1]["timeNano"] + 1000
            self.log.append(death)
        since_ns = 0 if since is None else int(Decimal(since) * 10**9)
        chunks = self._chunks(opening, since_ns)
        return json_stream(chunks) if decode else chunks

    def _chunks(self, opening, since_ns):
        for e in self.log:
            if e["timeNano"] >= since_ns:
                yield json.dumps(e).encode() + b"\n"
        for item in opening.live:
            if isinstance(item, bytes):
                yield item
            else:
                if isinstance(item, dict) and "timeNano" in item:
                    item["timeNano"] = time.time_ns()
                    self.log.append(item)
                yield json.dumps(item).encode() + b"\n"
        if opening.ends is not None:
            raise opening.ends

    def _list(self, all=False, sparse=False, filters=None):
        labels = dict(label.split("=", 1) for label in (filters or {}).get("label", []))
        return [SimpleNamespace(name=m) for m in self.running if labels.get("pgha.member") in (None, m)]


def watch(monkeypatch, engine, registry):
    """The watcher's main on `engine`, until the engine has no more openings; the pauses between them recorded."""
    sleeps: list[float] = []
    monkeypatch.setattr(watcher.docker, "DockerClient", lambda base_url: engine)
    monkeypatch.setattr(watcher, "start_http_server", lambda port, addr: None)
    real = watcher.Metrics
    monkeypatch.setattr(watcher, "Metrics", lambda: real(registry))
    monkeypatch.setattr(watcher.time, "sleep", sleeps.append)
    with pytest.raises(SystemExit):
        watcher.main(["--stack", "dev", "--prefix", PREFIX, "--etcd", ",".join(ENDPOINTS)])
    return sleeps


def test_the_engine_is_asked_for_this_stacks_postgres_deaths_only(etcd, registry, monkeypatch):
    engine = FakeEngine(Opening())
    watch(monkeypatch, engine, registry)
    assert engine.asked[0]["filters"] == {
        "type": "container",
        "event": "die",
        "label": ["pgha.stack=dev", "pgha.role=postgres"],
    }


def test_a_line_from_the_engine_that_is_no_json_is_skipped_and_the_watch_goes_on(etcd, registry, monkeypatch):
    # Sent raw, so stamped here: after the first, which is stamped as it is sent.
    second = json.dumps(event(member="postgres-1", at_ns=time.time_ns() + 10**9)).encode() + b"\n"
    engine = FakeEngine(Opening(live=[event(member="postgres-2"), b"{not json\n", second[:20], second[20:]]))
    watch(monkeypatch, engine, registry)
    assert sample(registry, "die_events_total", member="postgres-2") == 1
    assert sample(registry, "die_events_total", member="postgres-1") == 1  # after the bad line, and cut in two
    assert etcd.value(f"{PREFIX}/leader") is None


def test_an_event_of_an_unexpected_shape_is_skipped_and_the_watch_goes_on(etcd, registry, monkeypatch):
    odd = event(member="postgres-2")
    del odd["timeNano"]
    engine = FakeEngine(Opening(live=[odd, [1, 2], event(member="postgres-1")]))
    watch(monkeypatch, engine, registry)
    assert sample(registry, "die_events_total", member="postgres-1") == 1
    assert etcd.value(f"{PREFIX}/leader") is None


def stamp(ns):
    return f"{ns // 10**9}.{ns % 10**9:09d}"


def test_a_dropped_stream_is_opened_again_since_the_last_event_and_misses_no_death(etcd, registry, monkeypatch):
    """postgres-2 dies while no stream is open; postgres-1, the leader, while the next is being opened."""
    replica_death = event(member="postgres-2", seconds_ago=3)
    leader_death = event(member="postgres-1", seconds_ago=1)
    dropped = requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")
    engine = FakeEngine(Opening(live=[replica_death], ends=dropped), Opening(before=[leader_death]), Opening(ends=None))
    watch(monkeypatch, engine, registry)
    assert engine.asked[1]["since"] == stamp(replica_death["timeNano"])
    assert engine.asked[2]["since"] == stamp(leader_death["timeNano"])
    # Each death counted once, though the engine gives the event at `since` again.
    assert sample(registry, "die_events_total", member="postgres-2") == 1
    assert sample(registry, "die_events_total", member="postgres-1") == 1
    assert sample(registry, "locks_released_total", member="postgres-1") == 1
    assert etcd.value(f"{PREFIX}/leader") is None


def test_a_watcher_started_anew_catches_up_on_the_deaths_just_before(etcd, registry, monkeypatch):
    engine = FakeEngine(Opening(before=[event(member="postgres-1", seconds_ago=5)]))
    watch(monkeypatch, engine, registry)
    since_s = float(engine.asked[0]["since"])
    assert time.time() - watcher.STARTUP_LOOKBACK_S - 5 < since_s <= time.time() - watcher.STARTUP_LOOKBACK_S
    assert etcd.value(f"{PREFIX}/leader") is None


def test_a_death_from_before_the_stream_opened_whose_member_runs_again_is_left_to_patroni(etcd, registry, monkeypatch):
    """Docker restarted the container meanwhile (or Swarm started a new task): a new Patroni there may hold the lock
    again, which a release would take from a live leader."""
    engine = FakeEngine(Opening(before=[event(member="postgres-1", seconds_ago=5)]), running={"postgres-1"})
    watch(monkeypatch, engine, registry)
    assert etcd.value(f"{PREFIX}/leader") == "postgres-1"
    assert json.loads(etcd.value(f"{PREFIX}/members/postgres-1"))["state"] == "running"
    assert sample(registry, "die_events_total", member="postgres-1") == 1


def test_a_live_death_is_released_without_asking_the_engine_first(etcd, registry, monkeypatch):
    """The death as it happens: its member's container restarting already must not delay nor stop the release."""
    engine = FakeEngine(Opening(live=[event(member="postgres-1")]), running={"postgres-1"})
    watch(monkeypatch, engine, registry)
    assert etcd.value(f"{PREFIX}/leader") is None


def test_an_engine_that_refuses_is_asked_again_with_a_bounded_backoff(etcd, registry, monkeypatch):
    refused = docker.errors.DockerException("Error while fetching server API version: connection refused")
    engine = FakeEngine(*[Opening(refused=refused) for _ in range(9)], Opening(live=[event(member="postgres-1")]))
    sleeps = watch(monkeypatch, engine, registry)
    assert sleeps[:9] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    assert etcd.value(f"{PREFIX}/leader") is None
