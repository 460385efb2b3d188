"""The drills on a Swarm stack, with fakes for the engines: container faults act on the member's task on its node,
the host scenarios pick the lab node that holds the primary, and what cannot run says why before anything runs."""

import time
from types import SimpleNamespace

import pytest

from pgha.clients import docker_api
from pgha.ops.drills import drill, faults
from pgha.ops.drills.faults import SCENARIOS, Context, Refused
from pgha.ops.lab import lab_hosts
from pgha.ops.target import from_outputs
from tests.unit import swarm_fakes
from tests.unit.swarm_fakes import NODES, FakeEngine, healthy_swarm, swarm_target, swarm_task, task
from tests.unit.test_target import OUTPUTS as ONE_ENGINE_OUTPUTS

HOST_SCENARIOS = ("kill-host", "partition-host", "pause-host")
LAB_NETWORK = "pgha-swarm-lab"


def lab_container(index: int, address: str, network: str = LAB_NETWORK, running: bool = True) -> SimpleNamespace:
    """A lab node's container as the local engine lists it; a stopped one keeps its fixed address in IPAMConfig."""
    settings = {"IPAMConfig": {"IPv4Address": address}, "IPAddress": address if running else ""}
    return SimpleNamespace(
        attrs={
            "Names": [f"/pgha-swarm-lab-node-{index}"],
            "Labels": {"pgha.swarm-lab": "lab", "pgha.swarm-lab.node": str(index)},
            "NetworkSettings": {"Networks": {network: settings}},
        }
    )


@pytest.fixture
def local_lab(monkeypatch):
    """This machine's engine holding lab `lab`: nodes 1-3 at the fake stack's node addresses, node 2 stopped."""
    containers = [lab_container(i, f"10.214.7.1{i}", running=i != 2) for i in (1, 2, 3)]
    networks = [SimpleNamespace(name=LAB_NETWORK)]
    monkeypatch.setattr(docker_api, "labelled", lambda kind, *labels: containers if kind == "containers" else networks)
    return containers


def context(target, primary="postgres-2"):
    members = [
        {"name": f"postgres-{i}", "role": "leader" if f"postgres-{i}" == primary else "replica"} for i in (1, 2, 3)
    ]
    return Context(target, primary, members, ttl=20)


# --- the lab node behind an address ---------------------------------------------------------------------------------


def test_a_lab_node_is_found_by_its_address_on_a_lab_network_even_when_stopped(local_lab):
    host = lab_hosts.find("10.214.7.12")
    assert host == lab_hosts.LabHost("pgha-swarm-lab-node-2", LAB_NETWORK, "10.214.7.12", "lab-node-2")
    assert host.engine_url == NODES[1]


def test_an_address_on_a_network_that_is_no_labs_is_no_lab_node(monkeypatch):
    elsewhere = [lab_container(2, "10.214.7.12", network="somebody-elses")]
    monkeypatch.setattr(
        docker_api,
        "labelled",
        lambda kind, *labels: elsewhere if kind == "containers" else [SimpleNamespace(name=LAB_NETWORK)],
    )
    assert lab_hosts.find("10.214.7.12") is None


# --- which scenario runs where ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOST_SCENARIOS)
def test_host_scenarios_are_refused_on_one_engine(name):
    why = SCENARIOS[name].refusal(from_outputs("dev", ONE_ENGINE_OUTPUTS))
    assert why is not None and why.startswith(f"{name} breaks a whole Swarm node, and stack dev runs on one Docker")


@pytest.mark.parametrize("name", HOST_SCENARIOS)
def test_host_scenarios_are_refused_on_a_swarm_that_is_not_this_machines_lab(monkeypatch, name):
    monkeypatch.setattr(lab_hosts, "find", lambda address: None if address == "10.214.7.13" else object())
    why = SCENARIOS[name].refusal(swarm_target())
    assert why == (
        f"{name} acts on a Swarm lab's node containers only, never on a real host: node 3 of stack t1 "
        f"(10.214.7.13) is no lab container of this machine's engine (`pgha swarm-lab --status`)"
    )


@pytest.mark.parametrize("name", HOST_SCENARIOS)
def test_host_scenarios_run_on_a_lab(local_lab, name):
    assert SCENARIOS[name].refusal(swarm_target()) is None


def test_what_makes_no_sense_on_a_swarm_is_refused_there_only():
    one_engine, swarm = from_outputs("dev", ONE_ENGINE_OUTPUTS), swarm_target()
    for name in ("etcd-quorum-loss", "rolling-image-update"):
        assert SCENARIOS[name].refusal(one_engine) is None
        assert str(SCENARIOS[name].refusal(swarm)).startswith(f"{name} is not run on Swarm stacks: ")
    for name in ("kill-primary", "stop-primary", "kill-replica", "kill-etcd-member", "kill-pgbouncer"):
        assert SCENARIOS[name].refusal(swarm) is None
    for name in ("pause-primary", "partition-primary", "switchover-held", "rolling-restart", "restart-haproxy"):
        assert SCENARIOS[name].refusal(swarm) is None


def test_a_drill_asked_for_a_refused_scenario_refuses_before_anything_runs():
    with pytest.raises(Refused, match="kill-host breaks a whole Swarm node"):
        drill.applicable(from_outputs("dev", ONE_ENGINE_OUTPUTS), ["kill-primary", "kill-host"])


def test_drill_all_leaves_out_what_cannot_run_and_says_so(capsys):
    runnable = drill.applicable(from_outputs("dev", ONE_ENGINE_OUTPUTS), list(SCENARIOS))
    assert runnable == [n for n in SCENARIOS if n not in HOST_SCENARIOS]
    assert capsys.readouterr().out.count("left out: ") == 3


def test_recovery_drills_are_refused_on_a_swarm():
    from pgha.ops.backups import recovery

    with pytest.raises(Refused, match="pitr: not run on Swarm stacks"):
        recovery.run_trials(swarm_target(), ["pitr"], 1)


# --- the host scenarios pick the primary's node --------------------------------------------------------------------


def test_the_host_broken_is_the_node_placed_under_the_primary(local_lab):
    node, host = faults.primary_host(swarm_target(), "postgres-3")
    assert (node, host.container, host.address) == (3, "pgha-swarm-lab-node-3", "10.214.7.13")
    assert faults.members_on(swarm_target(), 3) == ["etcd-3", "pgbouncer-3", "postgres-3"]
    assert faults.members_on(swarm_target(), 1) == ["etcd-1", "haproxy-1", "pgbouncer-1", "postgres-1"]


def test_a_primary_outside_the_placement_is_refused(local_lab):
    with pytest.raises(Refused, match="postgres-4 is not in stack t1's placement"):
        faults.primary_host(swarm_target(), "postgres-4")


def test_kill_host_kills_the_primarys_node_container_and_waits_for_the_manager_to_list_it_down(local_lab, monkeypatch):
    monkeypatch.setattr(docker_api, "engine", healthy_swarm())
    killed: list[str] = []
    asked: list[tuple] = []

    def until_node(url, host, state, timeout):
        asked.append((url, host.hostname, state))
        return 12.5

    monkeypatch.setattr(lab_hosts, "kill", lambda host: killed.append(host.container))
    monkeypatch.setattr(lab_hosts, "until_node", until_node)
    ctx = context(swarm_target(), "postgres-2")
    faults.kill_host(ctx)
    assert killed == ["pgha-swarm-lab-node-2"]
    assert asked == [(NODES[0], "lab-node-2", "down")]
    assert ctx.tasks_before == {m: f"{m}-a" for m in ("etcd-2", "haproxy-2", "pgbouncer-2", "postgres-2")}
    assert ctx.notes == [
        "killed pgha-swarm-lab-node-2 (node 2: etcd-2, haproxy-2, pgbouncer-2, postgres-2)",
        "the manager listed node 2 down 12.5s after the fault",
    ]


def test_breaking_the_managers_own_node_does_not_wait_for_a_node_list(local_lab, monkeypatch):
    monkeypatch.setattr(docker_api, "engine", healthy_swarm())
    steps: list[str] = []
    monkeypatch.setattr(lab_hosts, "pause", lambda host: steps.append(f"pause {host.container}"))
    monkeypatch.setattr(faults, "_until_another_leader", lambda ctx: steps.append("another leader"))
    monkeypatch.setattr(lab_hosts, "unpause", lambda host: steps.append(f"thaw {host.container}"))
    monkeypatch.setattr(lab_hosts, "until_node", lambda *a: pytest.fail("no manager is left to ask"))
    ctx = context(swarm_target(), "postgres-1")
    faults.pause_host(ctx)
    assert steps == ["pause pgha-swarm-lab-node-1", "another leader", "thaw pgha-swarm-lab-node-1"]
    assert ctx.notes[1:] == [
        "node 1 is the Swarm's only manager: no node list until it is back",
        "thawed 5 s after another member led",
    ]


def replaced(engines, member: str, node: int, new_id: str) -> None:
    """Swarm's new task for the member: the manager lists it, its node runs it (the old container exited)."""
    engine = engines.by_url[NODES[node - 1]]
    for container in engine.listed:
        if container["Labels"]["com.docker.swarm.service.name"] == f"pgha-t1-{member}":
            container["State"] = "exited"
    engine.listed.append(task("t1", member, new_id, created=200))
    engines.by_url[NODES[0]].swarm_tasks[f"pgha-t1-{member}"] = [swarm_task(new_id)]


def test_a_member_on_a_node_back_waits_for_swarms_new_task_while_the_old_one_may_yet_go(monkeypatch):
    engines = healthy_swarm()
    monkeypatch.setattr(docker_api, "engine", engines)
    t = swarm_target()
    later = time.monotonic() + 60
    assert faults._task_waiting(t, "postgres-3", "postgres-3-a", later) == (
        "postgres-3: still its task from before the fault, which Swarm may yet replace"
    )
    assert faults._task_waiting(t, "postgres-3", "postgres-3-a", time.monotonic() - 1) is None  # kept, at last
    replaced(engines, "postgres-3", 3, "b")
    assert faults._task_waiting(t, "postgres-3", "postgres-3-a", later) is None


def test_a_task_the_manager_lists_but_its_node_does_not_run_is_waited_for(monkeypatch):
    engines = healthy_swarm()
    monkeypatch.setattr(docker_api, "engine", engines)
    engines.by_url[NODES[0]].swarm_tasks["pgha-t1-etcd-3"] = [swarm_task("c")]  # not yet on node 3
    assert faults._task_waiting(swarm_target(), "etcd-3", "etcd-3-a", time.monotonic() + 60) == (
        "etcd-3: its node runs etcd-3-a-con, the manager's task is c-container"
    )
    engines.by_url[NODES[0]].swarm_tasks["pgha-t1-etcd-3"] = [swarm_task("c", state="starting")]
    assert faults._task_waiting(swarm_target(), "etcd-3", "etcd-3-a", 0) == (
        "etcd-3: no running task in the manager's view"
    )


def test_healing_a_host_restarts_it_waits_ready_then_for_each_members_new_task(local_lab, monkeypatch):
    engines = healthy_swarm()
    monkeypatch.setattr(docker_api, "engine", engines)
    events: list[tuple] = []

    def start(host):
        events.append(("start", host.container))
        for member in ("etcd-3", "pgbouncer-3", "postgres-3"):
            replaced(engines, member, 3, f"{member}-b")

    monkeypatch.setattr(lab_hosts, "start", start)
    monkeypatch.setattr(lab_hosts, "until_node", lambda url, host, state, timeout: events.append(("node", state)))
    ctx = context(swarm_target(), "postgres-3")
    ctx.host = lab_hosts.find("10.214.7.13")
    ctx.tasks_before = {m: f"{m}-a" for m in ("etcd-3", "pgbouncer-3", "postgres-3")}
    faults.restart_host(ctx)
    assert events == [("start", "pgha-swarm-lab-node-3"), ("node", "ready")]
    assert ctx.notes[-1].startswith("node 3 ready ") and "kept" not in ctx.notes[-1]


# --- container faults on a Swarm: the member's task on its node ----------------------------------------------------


def test_kill_primary_on_a_swarm_kills_its_task_on_its_node(monkeypatch):
    engines = healthy_swarm()
    monkeypatch.setattr(docker_api, "engine", engines)
    monkeypatch.setattr(docker_api, "client", lambda: pytest.fail("the local engine holds no member of a swarm"))
    ctx = context(swarm_target(), "postgres-2")
    faults.kill_primary(ctx)
    assert engines.by_url[NODES[1]].api.calls == [("kill", "postgres-2-a-container")]
    assert all(not engines.by_url[url].api.calls for url in (NODES[0], NODES[2]))


def test_kill_pgbouncer_on_a_swarm_is_the_engines_kill_not_a_host_signal(monkeypatch):
    engines = healthy_swarm()
    monkeypatch.setattr(docker_api, "engine", engines)
    monkeypatch.setattr(faults.os, "kill", lambda *a: pytest.fail("a node's PIDs are not this host's"))
    faults.kill_pgbouncer(context(swarm_target(), "postgres-3"))
    assert engines.by_url[NODES[2]].api.calls == [("kill", "pgbouncer-3-a-container")]


def test_healing_on_a_swarm_waits_for_a_new_task_not_the_killed_one(monkeypatch):
    engines = healthy_swarm()
    monkeypatch.setattr(docker_api, "engine", engines)
    ctx = context(swarm_target(), "postgres-1")
    faults.kill_primary(ctx)
    node_1 = engines.by_url[NODES[0]]
    killed = next(c for c in node_1.listed if c["Id"] == "postgres-1-a-container")
    killed["State"] = "exited"
    assert faults._replacement_waiting(ctx.target, ctx.touched[0]) == (
        "postgres-1: no new task yet, its killed one postgres-1-a is the latest"
    )
    node_1.listed.append(task("t1", "postgres-1", "b", state="created", created=200))
    assert "its new task b-container is not running yet" in str(faults._replacement_waiting(ctx.target, ctx.touched[0]))
    node_1.listed[-1]["State"] = "running"
    faults._start_all(ctx)  # returns at once: the new task runs
    assert ctx.notes[-1].startswith("postgres-1: Swarm's new task running ")
    assert ("start", "postgres-1-a-container") not in node_1.api.calls


def test_partition_primary_on_a_swarm_cuts_every_network_then_kills_the_task(monkeypatch):
    engines = healthy_swarm()
    monkeypatch.setattr(docker_api, "engine", engines)
    node_2 = engines.by_url[NODES[1]]
    inspect = node_2.api.inspect_container
    networks: dict[str, dict] = {"pgha-t1": {}, "docker_gwbridge": {}}
    monkeypatch.setattr(
        node_2.api, "inspect_container", lambda c: inspect(c) | {"NetworkSettings": {"Networks": networks}}
    )
    monkeypatch.setattr(faults, "_until_another_leader", lambda ctx: node_2.api.calls.append(("another leader",)))
    ctx = context(swarm_target(), "postgres-2")
    faults.partition_primary(ctx)
    task_id = "postgres-2-a-container"
    assert node_2.api.calls == [
        ("disconnect_container_from_network", task_id, "pgha-t1"),
        ("disconnect_container_from_network", task_id, "docker_gwbridge"),
        ("another leader",),
        ("kill", task_id),
    ]
    assert [p.container for p in ctx.touched] == [task_id]


def test_one_engine_faults_still_act_on_the_named_container_locally(monkeypatch):
    local = FakeEngine([{"Id": "pgha-dev-postgres-1", "State": "running", "Labels": {}}])
    monkeypatch.setattr(docker_api, "client", lambda: local)
    monkeypatch.setattr(docker_api, "engine", lambda url: pytest.fail("a one-engine stack has no node engines"))
    ctx = context(from_outputs("dev", ONE_ENGINE_OUTPUTS), "postgres-1")
    faults.kill_primary(ctx)
    faults._start_all(ctx)
    assert local.api.calls == [("kill", "pgha-dev-postgres-1"), ("start", "pgha-dev-postgres-1")]


@pytest.mark.parametrize("state", ["restarting", "exited", "created"])
def test_kill_pgbouncer_never_signals_pid_0_of_a_container_with_no_process(monkeypatch, state):
    """os.kill(0, SIGKILL) would kill pgha's own process group: recorded here, never sent."""
    local = FakeEngine([{"Id": "pgha-dev-pgbouncer-1", "State": state, "Labels": {}}])
    monkeypatch.setattr(docker_api, "client", lambda: local)
    signalled: list[tuple[int, int]] = []
    monkeypatch.setattr(faults.os, "kill", lambda pid, sig: signalled.append((pid, sig)))
    ctx = context(from_outputs("dev", ONE_ENGINE_OUTPUTS), "postgres-1")
    with pytest.raises(RuntimeError, match=f"pgha-dev-pgbouncer-1 is {state}"):
        faults.kill_pgbouncer(ctx)
    assert signalled == []


def test_kill_pgbouncer_signals_the_pid_of_a_running_container(monkeypatch):
    local = FakeEngine([{"Id": "pgha-dev-pgbouncer-1", "State": "running", "Labels": {}}])
    monkeypatch.setattr(docker_api, "client", lambda: local)
    signalled: list[tuple[int, int]] = []
    monkeypatch.setattr(faults.os, "kill", lambda pid, sig: signalled.append((pid, sig)))
    faults.kill_pgbouncer(context(from_outputs("dev", ONE_ENGINE_OUTPUTS), "postgres-1"))
    assert signalled == [(4242, faults.signal.SIGKILL)]


def test_a_worker_back_may_get_new_tasks_for_its_own_members_the_manager_for_every_member():
    t = swarm_target()
    assert faults._watched(t, 2) == ["etcd-2", "haproxy-2", "pgbouncer-2", "postgres-2"]
    assert faults._watched(t, 1) == sorted(swarm_fakes.PLACEMENT)


def test_breaking_the_managers_node_notes_every_members_task_first(local_lab, monkeypatch):
    monkeypatch.setattr(docker_api, "engine", healthy_swarm())
    monkeypatch.setattr(lab_hosts, "disconnect", lambda host: None)
    ctx = context(swarm_target(), "postgres-1")
    faults.partition_host(ctx)
    assert ctx.tasks_before == {m: f"{m}-a" for m in swarm_fakes.PLACEMENT}


class Recorder:
    """A low-level client that lists containers by status and records what is asked of it."""

    def __init__(self, calls: list, where: str, listed: dict[str, list[str]] | None = None):
        self.calls, self.where, self.listed = calls, where, listed or {}

    def containers(self, filters: dict) -> list[dict]:
        return [{"Id": i} for i in self.listed.get(filters["status"], [])]

    def __getattr__(self, verb: str):
        return lambda *args, **kwargs: self.calls.append((self.where, verb, *args))


def test_pausing_a_host_freezes_its_containers_first_then_the_node_and_thaws_in_reverse(monkeypatch):
    calls: list[tuple] = []
    node = Recorder(calls, "node 2", {"running": ["a", "b"], "paused": ["a", "b"]})
    local = Recorder(calls, "this machine")
    monkeypatch.setattr(docker_api, "engine", lambda url: SimpleNamespace(api=node) if url == NODES[1] else None)
    monkeypatch.setattr(docker_api, "client", lambda: SimpleNamespace(api=local))
    host = lab_hosts.LabHost("pgha-swarm-lab-node-2", LAB_NETWORK, "10.214.7.12", "lab-node-2")
    lab_hosts.pause(host)
    lab_hosts.unpause(host)
    assert set(calls[:2]) == {("node 2", "pause", "a"), ("node 2", "pause", "b")}  # side by side
    assert calls[2:] == [
        ("this machine", "pause", "pgha-swarm-lab-node-2"),
        ("this machine", "unpause", "pgha-swarm-lab-node-2"),
        ("node 2", "unpause", "a"),
        ("node 2", "unpause", "b"),
    ]
