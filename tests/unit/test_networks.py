"""A stack network's end (pgha/actions/networks.py, components/network.py), decided from fake inspections: no
Docker."""

import docker.errors
import pytest

from components import network as component
from pgha.actions import networks
from pgha.model.settings import network_problems, parse

NAME = "pgha-t1"
GONE = "c0ffee" * 10 + "abcd"  # a container the engine no longer has
RUNNING = "beef01" * 10 + "abcd"


def inspection(*listed: tuple[str, str]) -> dict:
    """`docker network inspect` of the network: (key, endpoint name) per endpoint listed."""
    return {
        "Name": NAME,
        "Containers": {key: {"Name": name, "EndpointID": f"e-{name}"} for key, name in listed},
    }


def exists(*refs):
    return lambda ref: ref in refs


def test_endpoints_are_read_under_their_container_or_as_sandboxless():
    found = networks.endpoints(inspection((GONE, "pgha-t1-postgres-1"), ("ep-1234", "pgha-t1-etcd-1")))
    assert [(e.name, e.container) for e in found] == [("pgha-t1-postgres-1", GONE), ("pgha-t1-etcd-1", None)]
    assert networks.endpoints({"Containers": None}) == []


def test_nothing_listed_means_remove():
    assert networks.next_step(inspection(), exists()) == networks.Step(remove=True)


def test_an_endpoint_whose_container_is_gone_is_forced_off_by_name():
    step = networks.next_step(inspection((GONE, "pgha-t1-postgres-1"), ("ep-9", "pgha-t1-etcd-1")), exists())
    assert step == networks.Step(disconnect=("pgha-t1-postgres-1", "pgha-t1-etcd-1"))


def test_a_container_still_there_is_waited_for_never_forced_off():
    step = networks.next_step(
        inspection((RUNNING, "someones-debug-shell"), (GONE, "pgha-t1-haproxy-1")), exists(RUNNING)
    )
    assert step == networks.Step(disconnect=("pgha-t1-haproxy-1",), held_by=("someones-debug-shell",))
    # A container of that name exists under another ID: forcing the name off would detach it.
    step = networks.next_step(inspection((GONE, "pgha-t1-haproxy-1")), exists("pgha-t1-haproxy-1"))
    assert step == networks.Step(held_by=("pgha-t1-haproxy-1",))


@pytest.mark.parametrize(
    "step, says",
    [
        (networks.Step(remove=True), "counts an endpoint on it that no container holds"),
        (networks.Step(disconnect=("pgha-t1-postgres-1",)), "endpoints pgha-t1-postgres-1 whose containers are gone"),
        (networks.Step(held_by=("shell",)), "shell still attached"),
    ],
)
def test_what_is_left_is_one_line_with_the_command_that_clears_it(step, says):
    line = networks.left_behind(NAME, "t1", step)
    assert "\n" not in line and says in line
    assert f"docker network rm {NAME}" in line
    if not step.held_by:
        assert "moby#42119" in line and "make up STACK=t1" in line and "restart" in line


class FakeEngine:
    """The engine's answers in turn: inspections (or exceptions), and what removing the network answers."""

    def __init__(self, inspections, removals=(), containers=()):
        self.inspections, self.removals, self.containers = list(inspections), list(removals), set(containers)
        self.disconnected, self.removed = [], 0
        self.api = self

    def inspect_network(self, network_id):
        answer = self.inspections.pop(0) if len(self.inspections) > 1 else self.inspections[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def remove_network(self, network_id):
        self.removed += 1
        answer = self.removals.pop(0) if self.removals else None
        if answer:
            raise answer

    def inspect_container(self, ref):
        if ref not in self.containers:
            raise docker.errors.NotFound(f"No such container: {ref}")
        return {}

    def disconnect_container_from_network(self, container, network_id, force=False):
        assert force
        self.disconnected.append(container)


def release(monkeypatch, engine, deadline_s=5.0):
    monkeypatch.setattr(networks.docker_api, "client", lambda: engine)
    monkeypatch.setattr(networks.time, "sleep", lambda s: None)
    return networks.release("net-id", NAME, "t1", deadline_s)


def refused():
    return docker.errors.APIError(f"error while removing network: network {NAME} id net-id has active endpoints")


def test_a_network_nothing_holds_is_removed(monkeypatch):
    engine = FakeEngine([inspection()])
    assert release(monkeypatch, engine) is None
    assert engine.removed == 1


def test_a_network_already_gone_is_done(monkeypatch):
    assert release(monkeypatch, FakeEngine([docker.errors.NotFound("network net-id not found")])) is None


def test_stale_endpoints_are_forced_off_then_the_network_removed(monkeypatch):
    engine = FakeEngine([inspection((GONE, "pgha-t1-postgres-1")), inspection()])
    assert release(monkeypatch, engine) is None
    assert engine.disconnected == ["pgha-t1-postgres-1"] and engine.removed == 1


def test_a_count_catching_up_is_waited_for(monkeypatch):
    engine = FakeEngine([inspection()], removals=[refused(), refused()])
    assert release(monkeypatch, engine) is None
    assert engine.removed == 3


def test_a_network_the_engine_keeps_is_one_line_not_a_failure(monkeypatch):
    engine = FakeEngine([inspection()], removals=[refused()] * 100)
    line = release(monkeypatch, engine, deadline_s=0.0)
    assert line and "no container holds" in line and engine.removed == 1


def test_another_refusal_fails(monkeypatch):
    engine = FakeEngine([inspection()], removals=[docker.errors.APIError("permission denied")])
    with pytest.raises(docker.errors.APIError):
        release(monkeypatch, engine)


def test_the_release_warns_and_never_fails_the_destroy(monkeypatch):
    warned: list[str] = []
    monkeypatch.setattr(component.networks, "release", lambda network_id, name, stack: f"left {name}")
    monkeypatch.setattr(component.pulumi.log, "warn", warned.append)
    component._ReleaseProvider().delete("net-id", {"network_id": "net-id", "name": NAME, "stack": "t1"})
    assert warned == [f"left {NAME}"]
    monkeypatch.setattr(component.networks, "release", lambda network_id, name, stack: None)
    component._ReleaseProvider().delete("net-id", {"network_id": "net-id", "name": NAME, "stack": "t1"})
    assert warned == [f"left {NAME}"]


def test_a_new_network_replaces_the_release():
    old = {"network_id": "a", "name": NAME, "stack": "t1", "__provider": "x"}
    assert not component._ReleaseProvider().diff("a", old, old | {"__provider": "y"}).changes
    diff = component._ReleaseProvider().diff("a", old, old | {"network_id": "b"})
    assert diff.changes and diff.replaces == ["network_id"]


def test_the_network_on_the_engine_is_adopted_only_on_the_stack_subnet():
    settings = parse("t1", {"subnet": "10.213.9.0/24"})
    assert network_problems(settings, None) == []
    assert network_problems(settings, ("net-id", "10.213.9.0/24")) == []
    (problem,) = network_problems(settings, ("net-id", "10.213.7.0/24"))
    assert "pgha:subnet 10.213.7.0/24" in problem


def test_members_stop_others_first_then_postgres_then_etcd():
    members = {
        "pgha-t1-etcd-1": "etcd",
        "pgha-t1-postgres-2": "postgres",
        "pgha-t1-haproxy-1": "haproxy",
        "pgha-t1-postgres-1": "postgres",
        "pgha-t1-prometheus": "prometheus",
    }
    assert networks.stop_order(members) == [
        "pgha-t1-haproxy-1",
        "pgha-t1-prometheus",
        "pgha-t1-postgres-1",
        "pgha-t1-postgres-2",
        "pgha-t1-etcd-1",
    ]


class Listed:
    def __init__(self, name, role, state="running"):
        self.attrs = {"Names": [f"/{name}"], "Labels": {"pgha.role": role}, "State": state}


def test_each_stop_waits_for_the_engine_to_finish_with_the_container_before_the_next(monkeypatch):
    calls: list[tuple] = []

    class Api:
        def stop(self, name, timeout):
            calls.append(("stop", name, timeout))

        def inspect_container(self, name):
            calls.append(("inspect", name))
            if name == "pgha-t1-haproxy-1":
                raise docker.errors.NotFound("removed meanwhile")

    engine = type("Engine", (), {"api": Api()})()
    listed = [
        Listed("pgha-t1-etcd-1", "etcd"),
        Listed("pgha-t1-postgres-1", "postgres"),
        Listed("pgha-t1-haproxy-1", "haproxy"),
        Listed("pgha-t1-pgbouncer-1", "pgbouncer", state="exited"),
    ]
    monkeypatch.setattr(networks.docker_api, "client", lambda: engine)
    monkeypatch.setattr(networks.docker_api, "labelled", lambda kind, *labels: listed)
    assert networks.stop_in_turn("t1") == ["pgha-t1-postgres-1", "pgha-t1-etcd-1"]
    assert calls == [
        ("stop", "pgha-t1-haproxy-1", 0),
        ("inspect", "pgha-t1-haproxy-1"),
        ("stop", "pgha-t1-postgres-1", 30),
        ("inspect", "pgha-t1-postgres-1"),
        ("stop", "pgha-t1-etcd-1", 0),
        ("inspect", "pgha-t1-etcd-1"),
    ]


def test_the_stack_network_is_found_by_its_exact_name_among_those_with_its_label(monkeypatch):
    from pgha.model import host

    class Net:
        def __init__(self, name, subnet):
            self.name, self.id = name, f"id-{name}"
            self.attrs = {"IPAM": {"Config": [{"Subnet": "fd00::/64"}, {"Subnet": subnet}]}}

    found = [Net("pgha-t1-old", "10.213.8.0/24"), Net("pgha-t1", "10.213.9.0/24")]
    monkeypatch.setattr(
        host.docker_api, "labelled", lambda kind, *labels: found if labels == ("pgha.stack=t1",) else []
    )
    assert host.stack_network("t1") == ("id-pgha-t1", "10.213.9.0/24")
    assert host.stack_network("t2") is None
