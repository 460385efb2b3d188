"""The watcher's decisions and metrics, without Docker or etcd (it runs in its own image, so it is loaded by path):
etcd is tests/unit/etcd_fakes.py's, and the engine a stand-in that streams its event log as the engine does."""

import importlib.util
import json
import time
from pathlib import Path

import pytest
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


def test_another_stacks_death_asks_nothing_and_counts_nothing(etcd, registry):
    handle(registry, stack="other")
    assert etcd.requests == [] and sample(registry, "die_events_total", member="postgres-1") == 0


def test_the_default_metrics_port_is_the_one_the_stack_passes():
    args = watcher.parse_args(["--stack", "dev", "--prefix", "/pgha/pgha-dev", "--etcd", "http://10.0.0.11:2379"])
    assert args.metrics_port == FAILOVER_WATCHER_METRICS_PORT
