"""A drill trial's order of work around its fault, on fakes: whatever the fault does, it is healed and the clients
stopped."""

from types import SimpleNamespace
from typing import cast

import pytest

from pgha.ops.drills import drill
from pgha.ops.drills.faults import Scenario
from pgha.ops.target import Target


class FakeClient:
    def __init__(self, *args):
        self.attempts: list = []
        self.stopped = False

    def start(self):
        pass

    def stop(self):
        self.stopped = True


def test_a_fault_that_fails_half_way_is_healed_and_the_clients_stopped(monkeypatch):
    clients: list[FakeClient] = []

    def record(*args):
        clients.append(FakeClient())
        return clients[-1]

    members = [{"name": "postgres-1", "role": "leader"}]
    monkeypatch.setattr(drill.patroni_api, "cluster", lambda urls: {"members": members})
    monkeypatch.setattr(drill, "_members_by_address", lambda target, found: {})
    monkeypatch.setattr(drill.probe, "Probe", record)
    monkeypatch.setattr(drill.register, "Workload", record)
    monkeypatch.setattr(drill.linearizability, "binary", lambda: None)
    monkeypatch.setattr(drill, "BASELINE_S", 0.0)
    healed = []

    def inject(ctx):
        raise TimeoutError("the switchover's answer timed out")

    scenario = Scenario("rolling-restart", inject, heal=lambda ctx: healed.append(ctx.primary))
    target = cast(Target, SimpleNamespace(stack="dev", patroni_apis=[], rw_endpoints=[], ro_endpoints=[]))
    with pytest.raises(TimeoutError, match="timed out"):
        drill.run_trial(target, scenario, 1, 20)
    assert healed == ["postgres-1"]
    assert len(clients) == 3 and all(c.stopped for c in clients)
