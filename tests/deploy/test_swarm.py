"""The same program on a Swarm: a 3-node lab of this machine's own, a stack with pgha:engine swarm deployed onto it
with `pulumi up`, each etcd and PostgreSQL member on a node of its own; a write read back on a replica on another host;
the primary's task killed and the watcher on its node ending the outage; the primary's whole host killed (kill-host,
the drill); `pulumi destroy` leaving nothing on any node.
"""

import contextlib
import json
import subprocess
import time
import uuid

import psycopg
import pytest
import requests

from pgha.model.host import free_ports
from pgha.ops import target
from pgha.ops.drills import drill, faults, probe
from pgha.ops.lab import swarm_lab
from tests.deploy.conftest import ROOT, docker_objects, leftovers, plaintext, pulumi
from tests.engines import engine

LAB = "dtest"
NODES = 3
SETTINGS = {"engine": "swarm", "swarmLab": LAB, "metrics": "false", "backups": "false"}  # quorum commit
DEADLINE_S = 120.0
TTL_S = 20  # Patroni's default, which the stack keeps


def until(condition, timeout: float, what: str):
    """`condition`'s first truthy value, polled until the deadline; what it last raised or returned in the failure."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
            last = value
        except (OSError, psycopg.Error, ConnectionError, requests.RequestException) as exc:  # still coming up
            last = exc
        time.sleep(0.5)
    pytest.fail(f"{what}: not within {timeout:.0f}s (last: {last!r})")


def cluster(t: target.Target) -> list[dict]:
    for url in t.patroni_apis:
        with contextlib.suppress(requests.RequestException):
            return requests.get(f"{url}/cluster", timeout=2).json()["members"]
    raise ConnectionError("no Patroni REST API answers")


def healthy(t: target.Target, nodes: int) -> str | None:
    """The leader's name once it leads `nodes - 1` streaming replicas and HAProxy takes a write."""
    members = cluster(t)
    leaders = [m["name"] for m in members if m["role"] == "leader"]
    streaming = [m for m in members if m["role"] != "leader" and m["state"] == "streaming"]
    if len(leaders) != 1 or len(streaming) != nodes - 1:
        return None
    with psycopg.connect(**t.connection_params(t.rw_endpoints), connect_timeout=2) as conn:
        conn.execute("select 1")
    return leaders[0]


def one(conn: psycopg.Connection, sql: str) -> tuple:
    row = conn.execute(sql).fetchone()
    assert row is not None, sql
    return row


def stack_objects(lab: swarm_lab.Lab, stack: str) -> dict[str, list[str]]:
    """What of the stack is on each node: containers, volumes, networks, component images; on the manager, its
    services, secrets and configs."""
    found: dict[str, list[str]] = {}
    prefix = f"pgha-{stack}"
    for node in lab.nodes:
        with engine(node.engine_url) as e:
            objects = [c.name for c in e.containers.list(all=True) if c.name.startswith(prefix)]
            objects += [v.name for v in e.volumes.list() if v.name.startswith(prefix)]
            objects += [n.name for n in e.networks.list() if n.name.startswith(prefix)]
            objects += [t for i in e.images.list() for t in i.tags if not t.startswith("pgha-base:")]
            if node.is_manager:
                objects += [s.name for s in e.services.list() if s.name.startswith(prefix)]
                objects += [s.name for s in e.secrets.list() if s.name.startswith(prefix)]
                objects += [c.name for c in e.configs.list() if c.name.startswith(prefix)]
        if objects:
            found[node.hostname] = objects
    return found


def target_outputs(stack: str) -> dict:
    """The stack's outputs without their secrets: placement among them."""
    return json.loads(pulumi("stack", "output", "--json", stack=stack).stdout)


@pytest.fixture(scope="module")
def on_swarm():
    """The lab, then the stack on it; the stack destroyed and the lab removed, whatever happened."""
    before = docker_objects()
    stack = f"ts-{uuid.uuid4().hex[:6]}"
    lab = swarm_lab.up(LAB, NODES, api_port=free_ports(1)[0], log=lambda _: None)
    try:
        subprocess.run(["pulumi", "stack", "init", stack], cwd=ROOT, capture_output=True, check=True, timeout=120)
        pulumi("config", "set-all", *plaintext(SETTINGS), stack=stack)
        start = time.monotonic()
        up = pulumi("up", "--yes", "--skip-preview", stack=stack, check=False)
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        t = target.from_pulumi(stack)
        leader = until(lambda: healthy(t, NODES), DEADLINE_S, "the Swarm stack healthy")
        print(f"\nswarm stack up and healthy in {time.monotonic() - start:.1f}s, leader {leader}")
        yield lab, stack, t
        destroy = pulumi("destroy", "--yes", "--skip-preview", stack=stack, check=False)
        assert destroy.returncode == 0, destroy.stdout[-4000:] + destroy.stderr[-4000:]
        assert not stack_objects(lab, stack), "left behind on the Swarm's nodes after destroy"
    finally:
        pulumi("destroy", "--yes", "--skip-preview", stack=stack, check=False)
        subprocess.run(["pulumi", "stack", "rm", "--yes", "--force", stack], cwd=ROOT, capture_output=True, timeout=120)
        (ROOT / f"Pulumi.{stack}.yaml").unlink(missing_ok=True)
        swarm_lab.down(LAB, log=lambda _: None)
        left = leftovers(before)
        assert not left, f"left behind on this host: {left}"


def test_each_member_runs_on_the_node_its_placement_gives(on_swarm):
    lab, stack, _ = on_swarm
    outputs = target_outputs(stack)
    for node in lab.nodes:
        with engine(node.engine_url) as e:
            services = {c.labels["com.docker.swarm.service.name"] for c in e.containers.list()}
        pinned = {f"pgha-{stack}-{m}" for m, n in outputs["placement"].items() if n == node.index}
        assert pinned <= services, f"{node.hostname} runs {sorted(services)}"
        assert f"pgha-{stack}-failover-watcher" in services, f"no failover watcher on {node.hostname}"
    assert {n for m, n in outputs["placement"].items() if m.startswith("postgres-")} == {1, 2, 3}


def test_a_write_is_read_back_on_a_replica_on_another_host(on_swarm):
    _, _, t = on_swarm
    with psycopg.connect(**t.connection_params(t.rw_endpoints), autocommit=True) as conn:
        conn.execute("create table if not exists swarm_probe (id int primary key, note text)")
        conn.execute("insert into swarm_probe values (1, 'written on the primary') on conflict do nothing")
        primary = one(conn, "select inet_server_addr()")[0]

    def read_back():
        with psycopg.connect(**t.connection_params(t.ro_endpoints), connect_timeout=2) as conn:
            row = one(
                conn, "select pg_is_in_recovery(), inet_server_addr(), (select note from swarm_probe where id = 1)"
            )
        return row if row[2] else None

    in_recovery, replica, note = until(read_back, 30, "the row on a replica")
    assert in_recovery and note == "written on the primary"
    assert replica != primary  # another task, on another node: one PostgreSQL member per node


@pytest.mark.parametrize("scenario", faults.HOST_SCENARIOS)
def test_a_host_killed_cut_off_or_frozen_under_the_primary_loses_no_acknowledged_commit(on_swarm, scenario):
    _, _, t = on_swarm
    drill.wait_healthy(t, DEADLINE_S)
    probe.ensure_table(t)  # the drill's writer commits into it (drill.run makes it; a single trial does not)
    # No die event reaches any other node: the dead primary's leader key expiring in etcd (ttl) ends its term.
    trial = drill.run_trial(t, faults.SCENARIOS[scenario], 1, TTL_S)
    print(f"\n{scenario}: RTO {trial.rto_s} s, lost {trial.lost_acked}, {trial.old_primary} -> {trial.new_primary}")
    assert trial.lost_acked == 0, f"acknowledged commits lost, by member: {trial.lost_by_member}"
    assert not trial.split_brain, "two members acknowledged writes as primary"
    assert trial.rto_s is not None, f"writes never came back: {trial.notes}"
    assert trial.new_primary not in ("", trial.old_primary), f"{trial.old_primary} still leads"
    assert trial.consistency["linearizable"] is True, f"register history: {trial.consistency}"


def test_killing_the_primary_task_is_ended_by_the_watcher_on_its_node(on_swarm):
    lab, stack, t = on_swarm
    old = until(lambda: healthy(t, NODES), DEADLINE_S, "healthy before the kill")
    with psycopg.connect(**t.connection_params(t.rw_endpoints), autocommit=True) as conn:
        conn.execute("create table if not exists swarm_kill (id serial primary key)")
        conn.execute("insert into swarm_kill default values")
    node = lab.nodes[target_outputs(stack)["placement"][old] - 1]
    with engine(node.engine_url) as e:
        task = e.containers.list(filters={"label": f"com.docker.swarm.service.name=pgha-{stack}-{old}"})[0]
        killed_at = time.monotonic()
        task.kill()

    def written():
        with psycopg.connect(**t.connection_params(t.rw_endpoints), connect_timeout=1, autocommit=True) as conn:
            conn.execute("insert into swarm_kill default values")
            return one(conn, "select count(*) from swarm_kill")[0]

    rows = until(written, DEADLINE_S, "a write after the primary's task was killed")
    outage = time.monotonic() - killed_at
    new = until(lambda: [m["name"] for m in cluster(t) if m["role"] == "leader"], 30, "a leader")[0]
    print(f"\nkill of {old}'s task on {node.hostname}: writes back after {outage:.2f}s on {new}")
    assert new != old
    assert rows == 2  # the row acknowledged before the kill is on the new primary
    with engine(node.engine_url) as e:
        watcher = e.containers.list(filters={"label": f"com.docker.swarm.service.name=pgha-{stack}-failover-watcher"})
        log = watcher[0].logs().decode()
    assert f"{old} died: leader lock released" in log, log[-2000:]
