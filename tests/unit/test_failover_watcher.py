"""The watcher's decisions and metrics, without Docker or etcd (it runs in its own image, so it is loaded by path)."""

import base64
import importlib.util
import json
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from pgha.model.layout import FAILOVER_WATCHER_METRICS_PORT

PATH = Path(__file__).resolve().parents[2] / "docker" / "failover-watcher" / "watcher.py"
spec = importlib.util.spec_from_file_location("watcher", PATH)
assert spec is not None and spec.loader is not None  # a .py file's spec always has its loader
watcher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(watcher)


def decode(text):
    return base64.b64decode(text).decode()


MEMBER = json.dumps(
    {
        "conn_url": "postgres://10.0.0.21:5432/postgres",
        "api_url": "http://10.0.0.21:8008/patroni",
        "state": "running",
        "role": "primary",
    }
)


def test_release_is_guarded_by_the_leader_key_naming_the_dead_member():
    txn = watcher.release_txn("/pgha/pgha-dev", "postgres-1", MEMBER)
    (compare,) = txn["compare"]
    assert decode(compare["key"]) == "/pgha/pgha-dev/leader"
    assert (compare["target"], compare["result"], decode(compare["value"])) == ("VALUE", "EQUAL", "postgres-1")
    delete, put = txn["success"]
    assert decode(delete["requestDeleteRange"]["key"]) == "/pgha/pgha-dev/leader"
    assert decode(put["requestPut"]["key"]) == "/pgha/pgha-dev/members/postgres-1"
    rewritten = json.loads(decode(put["requestPut"]["value"]))
    assert "api_url" not in rewritten and rewritten["conn_url"] == "postgres://10.0.0.21:5432/postgres"
    assert "failure" not in txn  # when another member holds the lock, nothing changes


def test_a_member_without_a_key_only_loses_the_lock():
    txn = watcher.release_txn("/pgha/pgha-dev", "postgres-2", None)
    assert [list(op) for op in txn["success"]] == [["requestDeleteRange"]]


def event(action="die", stack="dev", role="postgres", member="postgres-1", seconds_ago=0.0):
    return {
        "Type": "container",
        "Action": action,
        "timeNano": time.time_ns() - int(seconds_ago * 1e9),
        "Actor": {"Attributes": {"pgha.stack": stack, "pgha.role": role, "pgha.member": member}},
    }


def test_only_this_stacks_postgres_deaths_count():
    assert watcher.dead_member(event(), "dev") == "postgres-1"
    assert watcher.dead_member(event(action="stop"), "dev") is None
    assert watcher.dead_member(event(stack="other"), "dev") is None
    assert watcher.dead_member(event(role="pgbouncer"), "dev") is None


class FakeEtcd:
    """Answers the release's two requests: the member's key, then the transaction (`succeeded`: it held the lock)."""

    def __init__(self, succeeded=True, unreachable=False):
        self.succeeded, self.unreachable, self.paths = succeeded, unreachable, []

    def call(self, path, body):
        if self.unreachable:
            raise ConnectionError("http://10.0.0.11:2379: connection refused")
        self.paths.append(path)
        return {"succeeded": self.succeeded}

    def get(self, key):
        self.call("/v3/kv/range", {"key": key})
        return MEMBER


@pytest.fixture
def registry():
    return CollectorRegistry()


def handle(etcd, registry, **event_fields):
    watcher.handle(event(**event_fields), "dev", etcd, "/pgha/pgha-dev", watcher.Metrics(registry))


def sample(registry, name, **labels):
    """A metric's value; 0 for a member it has not counted yet (no such labelled series)."""
    return registry.get_sample_value(f"pgha_failover_watcher_{name}", labels) or 0


def test_a_released_lock_counts_the_death_the_release_and_the_delay_since_the_event(registry):
    etcd = FakeEtcd(succeeded=True)
    handle(etcd, registry, member="postgres-2", seconds_ago=0.2)
    assert etcd.paths == ["/v3/kv/range", "/v3/kv/txn"]
    assert sample(registry, "die_events_total", member="postgres-2") == 1
    assert sample(registry, "locks_released_total", member="postgres-2") == 1
    assert sample(registry, "releases_without_lock_total") == 0
    # Timed from the engine's time of the event, not from when the watcher read it.
    assert sample(registry, "die_to_release_seconds_count") == 1
    assert sample(registry, "die_to_release_seconds_sum") >= 0.2
    assert sample(registry, "die_to_release_seconds_bucket", le="0.1") == 0
    assert sample(registry, "die_to_release_seconds_bucket", le="5.0") == 1


def test_a_member_without_the_lock_counts_a_release_that_found_none(registry):
    handle(FakeEtcd(succeeded=False), registry)
    assert sample(registry, "die_events_total", member="postgres-1") == 1
    assert sample(registry, "locks_released_total", member="postgres-1") == 0
    assert sample(registry, "releases_without_lock_total") == 1
    assert sample(registry, "die_to_release_seconds_count") == 1


def test_an_unreachable_etcd_counts_an_error_and_no_delay(registry):
    handle(FakeEtcd(unreachable=True), registry)
    assert sample(registry, "die_events_total", member="postgres-1") == 1
    assert sample(registry, "etcd_errors_total") == 1
    assert sample(registry, "die_to_release_seconds_count") == 0
    assert sample(registry, "releases_without_lock_total") == 0


def test_another_stacks_death_asks_nothing_and_counts_nothing(registry):
    etcd = FakeEtcd()
    handle(etcd, registry, stack="other")
    assert etcd.paths == [] and sample(registry, "die_events_total", member="postgres-1") == 0


def test_the_engine_is_asked_for_this_stacks_postgres_deaths_only():
    class FakeEngine:
        def events(self, **kwargs):
            self.asked = kwargs
            return iter([])

    engine = FakeEngine()
    watcher.die_events(engine, "dev")
    assert engine.asked == {
        "decode": True,
        "filters": {"type": "container", "event": "die", "label": ["pgha.stack=dev", "pgha.role=postgres"]},
    }


def test_the_default_metrics_port_is_the_one_the_stack_passes():
    args = watcher.parse_args(["--stack", "dev", "--prefix", "/pgha/pgha-dev", "--etcd", "http://10.0.0.11:2379"])
    assert args.metrics_port == FAILOVER_WATCHER_METRICS_PORT
