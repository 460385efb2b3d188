"""A Swarm stack's target: its placement from the outputs, and each member's container found on its own node's
engine (fakes, no Docker)."""

import re
import subprocess

import pytest

from pgha.clients import docker_api
from pgha.ops import status
from pgha.ops.drills import drill
from pgha.ops.drills.timeline import Attempt
from pgha.ops.target import Place, current_task, from_outputs
from tests.unit import swarm_fakes
from tests.unit.swarm_fakes import NODES, FakeEngine, FakeEngines, healthy_swarm, swarm_target, task
from tests.unit.test_target import OUTPUTS as ONE_ENGINE_OUTPUTS


def test_a_swarm_stack_knows_its_nodes_and_where_each_member_runs():
    t = swarm_target()
    assert t.is_swarm
    assert t.swarm_nodes == tuple(NODES)
    assert t.placement["postgres-2"] == 2 and t.placement["haproxy-2"] == 2 and t.placement["etcd-3"] == 3
    assert t.node_url("postgres-3") == "tcp://10.214.7.13:2375"


def test_a_one_engine_stack_has_no_placement():
    t = from_outputs("dev", ONE_ENGINE_OUTPUTS)
    assert (t.is_swarm, t.swarm_nodes, dict(t.placement)) == (False, (), {})


def test_a_member_outside_the_placement_is_named_in_the_error():
    with pytest.raises(LookupError, match="postgres-9 is not in stack t1's placement"):
        swarm_target().node_url("postgres-9")


def test_on_one_engine_a_member_is_its_named_container_on_the_local_engine():
    place = from_outputs("dev", ONE_ENGINE_OUTPUTS).place("postgres-2")
    assert place == Place("postgres-2", "pgha-dev-postgres-2", None)
    assert place.exec_argv() == ["docker", "exec", "pgha-dev-postgres-2"]


def test_on_a_swarm_a_member_is_its_running_task_on_its_own_node(monkeypatch):
    node_2 = FakeEngine(
        [
            task("t1", "postgres-2", "old", state="exited", created=100),
            task("t1", "postgres-2", "now", state="running", created=50),  # older, but the one running
            task("t1", "postgres-20", "other", state="running", created=300),  # another service
            task("t1", "pgbouncer-2", "pgb", state="running", created=400),
        ]
    )
    monkeypatch.setattr(docker_api, "engine", FakeEngines({NODES[1]: node_2}))
    place = swarm_target().place("postgres-2")
    assert place == Place("postgres-2", "now-container", NODES[1])
    assert place.exec_argv("-u", "postgres") == ["docker", "-H", NODES[1], "exec", "-u", "postgres", "now-container"]


def test_with_no_task_running_the_newest_is_the_current_one():
    tasks = [task("t1", "etcd-1", "a", "exited", 100), task("t1", "etcd-1", "b", "created", 200)]
    assert current_task(tasks)["Id"] == "b-container"


def test_a_member_with_no_task_on_its_node_says_so(monkeypatch):
    monkeypatch.setattr(docker_api, "engine", FakeEngines({NODES[2]: FakeEngine([])}))
    with pytest.raises(
        LookupError, match=re.escape("no task container of service pgha-t1-postgres-3 on tcp://10.214.7.13")
    ):
        swarm_target().place("postgres-3")


def test_psql_runs_in_the_members_task_on_its_nodes_engine(monkeypatch):
    monkeypatch.setattr(docker_api, "engine", healthy_swarm())
    ran = []

    def run(command, **kwargs):
        ran.append(command)
        return subprocess.CompletedProcess(command, 0, "t\n", "")

    monkeypatch.setattr(subprocess, "run", run)
    assert swarm_target().psql("postgres-3", "SELECT true") == "t"
    assert ran[0][:5] == ["docker", "-H", NODES[2], "exec", "postgres-3-a-container"]
    assert ran[0][5:7] == ["psql", "-X"]


def test_a_swarm_stacks_containers_are_its_services_current_tasks_across_the_nodes(monkeypatch):
    monkeypatch.setattr(docker_api, "engine", healthy_swarm())
    found = swarm_target().containers()
    placed = set(swarm_fakes.PLACEMENT)
    watchers = {f"failover-watcher@node-{n}" for n in (1, 2, 3)}
    assert set(found) == placed | watchers
    assert {c["State"] for c in found.values()} == {"running"}
    assert set(swarm_target().containers("postgres")) == {"postgres-1", "postgres-2", "postgres-3"}


def test_members_of_a_node_that_does_not_answer_are_unreachable_not_left_out(monkeypatch):
    engines = healthy_swarm()
    engines.by_url[NODES[1]].answers = False
    engines.by_url[NODES[2]].listed = [c for c in engines.by_url[NODES[2]].listed if "etcd-3" not in c["Names"][0]]
    monkeypatch.setattr(docker_api, "engine", engines)
    found = swarm_target().containers()
    assert {m: found[m]["State"] for m in ("postgres-2", "etcd-2", "haproxy-2", "etcd-3", "postgres-1")} == {
        "postgres-2": "unreachable",
        "etcd-2": "unreachable",
        "haproxy-2": "unreachable",
        "etcd-3": "missing",
        "postgres-1": "running",
    }
    problems = status.problems(status.Status(containers={n: c["State"] for n, c in found.items()}))
    assert "container postgres-2 is unreachable" in problems and "container etcd-3 is missing" in problems
    # A role's listing holds that role's missing members only.
    assert set(swarm_target().containers("etcd")) == {"etcd-1", "etcd-2", "etcd-3"}


def test_etcd_health_is_asked_inside_each_members_task_on_its_node(monkeypatch):
    monkeypatch.setattr(docker_api, "engine", healthy_swarm())
    ran = []

    def run(command, **kwargs):
        ran.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(status.patroni_api, "cluster", lambda urls: {"members": []})
    monkeypatch.setattr(status.patroni_api, "dynamic_config", lambda urls: {})
    monkeypatch.setattr(status, "_haproxy_backends", lambda url: {})
    gathered = status.gather(swarm_target())
    assert gathered.etcd == {"etcd-1": "healthy", "etcd-2": "healthy", "etcd-3": "healthy"}
    assert sorted(command[:5] for command in ran) == [
        ["docker", "-H", NODES[i], "exec", f"etcd-{i + 1}-a-container"] for i in range(3)
    ]


def test_a_swarm_probe_names_servers_by_their_tasks_addresses(monkeypatch):
    engines = healthy_swarm()
    for url in NODES:
        for container in engines.by_url[url].listed:
            member = container["Names"][0].split(".")[0].removeprefix("/pgha-t1-")
            if member.startswith("postgres-"):
                address = f"10.213.9.{member[-1]}"
                container["NetworkSettings"] = {"Networks": {"pgha-t1": {"IPAddress": address}}}
    monkeypatch.setattr(docker_api, "engine", engines)
    members = [{"name": f"postgres-{i}", "host": f"postgres-{i}"} for i in (1, 2, 3)]
    by_address = drill._members_by_address(swarm_target(), members)
    assert {a: m for a, m in by_address.items() if a.startswith("10.")} == {
        "10.213.9.1": "postgres-1",
        "10.213.9.2": "postgres-2",
        "10.213.9.3": "postgres-3",
    }


def test_attempts_answered_by_an_address_learnt_later_are_named_after_the_fact():
    attempts = [
        Attempt(1, 0.0, 0.1, True, "postgres-1", 1),
        Attempt(2, 0.2, 0.3, False),
        Attempt(3, 0.4, 0.5, True, "10.213.9.7/32", 2),  # postgres-2's new task, unknown as it answered
        Attempt(4, 0.6, 0.7, True, "10.213.9.8/32", 2),  # never learnt: left as it is
    ]
    named = drill._named(attempts, {"10.213.9.7": "postgres-2", "10.213.9.1": "postgres-1"})
    assert [a.member for a in named] == ["postgres-1", None, "postgres-2", "10.213.9.8/32"]
