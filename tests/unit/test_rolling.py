import pytest

from pgha.actions import rolling


def _fake_reads(monkeypatch, sequence):
    reads = iter(sequence)
    monkeypatch.setattr(rolling, "members", lambda urls: {"postgres-1": {}, "postgres-2": {}})
    monkeypatch.setattr(rolling, "dcs_reads", lambda members: next(reads))
    monkeypatch.setattr(rolling.time, "sleep", lambda s: None)
    return reads


def test_the_rolling_restart_waits_until_every_member_read_etcd_twice_after_the_change(monkeypatch):
    sequence = [
        {"postgres-1": 100, "postgres-2": 101},  # before the change
        {"postgres-1": 102, "postgres-2": 101},
        {"postgres-1": 102, "postgres-2": None},  # a member that does not answer is asked again
        {"postgres-1": 104, "postgres-2": 103},
        {"postgres-1": 104, "postgres-2": 105},
        {"postgres-1": 999, "postgres-2": 999},
    ]
    reads = _fake_reads(monkeypatch, sequence)
    rolling.after_two_loops([])
    assert next(reads) == {"postgres-1": 999, "postgres-2": 999}, "it waited longer than needed"


def test_the_rolling_restart_gives_up_when_a_member_never_reads_etcd_again(monkeypatch):
    _fake_reads(monkeypatch, [{"postgres-1": 100, "postgres-2": 100}] * 1000)
    monkeypatch.setattr(rolling, "DEADLINE_S", -1.0)
    with pytest.raises(RuntimeError, match="did not run two HA loops"):
        rolling.after_two_loops([])


def test_a_rolling_restart_takes_the_replicas_in_turn_then_switches_over_then_restarts_the_old_primary(monkeypatch):
    found = {
        "postgres-1": {"role": "replica", "url": "u1"},
        "postgres-2": {"role": "leader", "url": "u2"},
        "postgres-3": {"role": "replica", "url": "u3", "pending_restart": True},
    }
    calls = []
    monkeypatch.setattr(rolling, "members", lambda urls: found)
    monkeypatch.setattr(
        rolling.patroni_api, "call", lambda url, method="GET", body=None, password=None, timeout=5.0: calls.append(url)
    )
    monkeypatch.setattr(rolling, "_wait_member", lambda urls, name, ready, what: calls.append(f"wait {name}"))
    assert rolling.restart([], "pw", pending_only=False) == ["postgres-1", "postgres-3", "postgres-2"]
    assert calls == [
        "u1/restart",
        "wait postgres-1",
        "u3/restart",
        "wait postgres-3",
        "u2/switchover",
        "wait postgres-2",
        "u2/restart",
        "wait postgres-2",
    ]
    calls.clear()
    assert rolling.restart([], "pw", pending_only=True) == ["postgres-3"]


def test_a_restarted_synchronous_standby_is_back_only_once_the_primary_counts_it_again():
    back = rolling._back_as("quorum_standby")
    assert not back({"state": "streaming", "role": "replica"})  # streaming, not yet in synchronous_standby_names
    assert back({"state": "streaming", "role": "quorum_standby"})
    assert not back({"state": "streaming", "role": "quorum_standby", "pending_restart": True})
    assert rolling._back_as("replica")({"state": "streaming", "role": "replica"})  # asynchronous: streaming is enough


def test_a_switchover_whose_answer_is_late_is_judged_by_the_member_becoming_a_replica(monkeypatch):
    found = {"postgres-1": {"role": "leader", "url": "u1"}}
    asked = {}

    def late(url, method="GET", body=None, password=None, timeout=5.0):
        asked["timeout"] = timeout
        raise TimeoutError("timed out")

    waited = []
    monkeypatch.setattr(rolling, "members", lambda urls: found)
    monkeypatch.setattr(rolling.patroni_api, "call", late)
    monkeypatch.setattr(rolling, "_wait_member", lambda urls, name, ready, what: waited.append(name))
    rolling.switch_over_from([], "pw", "postgres-1")
    assert waited == ["postgres-1"] and asked["timeout"] == rolling.patroni_api.SWITCHOVER_TIMEOUT_S
