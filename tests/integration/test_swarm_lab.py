"""A Swarm lab for real, on this machine's engine: three engines in containers form a Swarm, a service spreads over
them and its tasks reach each other across hosts over an overlay network; `up` again leaves a healthy lab as it is and
mends a broken one; `down` leaves nothing of it. A few minutes on two cores."""

import time

import pytest
from docker.types import ServiceMode

from pgha.clients import docker_api
from pgha.model.host import free_ports
from pgha.model.images import BASE_IMAGE
from pgha.ops.lab import swarm_lab
from tests.engines import engine

NAME = "itest"
NODES = 3
SERVICE = "spread"
ECHO_PORT = 7000
# Each task answers a TCP connection with its hostname, which Swarm sets to its node's: a connection says which host
# answered. Perl, because the minimal base image has it (perl-base is essential) and no netcat.
ECHO_HOSTNAME = (
    "use IO::Socket::INET; open my $h, '<', '/etc/hostname'; my $name = <$h>;"
    f"my $s = IO::Socket::INET->new(LocalPort => {ECHO_PORT}, Listen => 8, ReuseAddr => 1) or die $!;"
    "while (my $c = $s->accept) { print $c $name; close $c }"
)


def until(condition, timeout: float, what: str):
    """`condition`'s first truthy value, polled until the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"{what}: not within {timeout:.0f}s")


def leftovers() -> list[str]:
    kinds = ("containers", "volumes", "networks")
    found = [f"{kind}: {m.name}" for kind in kinds for m in docker_api.labelled(kind, f"{swarm_lab.LABEL}={NAME}")]
    names = [c.name for c in docker_api.client().containers.list(all=True) if c.name.startswith(f"pgha-swarm-{NAME}-")]
    return found + names


@pytest.fixture(scope="module")
def lab():
    swarm_lab.down(NAME)  # what an interrupted earlier run may have left
    start = time.monotonic()
    try:
        made = swarm_lab.up(NAME, NODES, free_ports(1)[0])
        print(f"\nlab up in {time.monotonic() - start:.1f}s (with the node image built or found)")
        yield made
    finally:
        swarm_lab.down(NAME)


def test_the_manager_lists_every_node_ready_and_labelled(lab):
    st = swarm_lab.status(NAME)
    assert swarm_lab.problems(st, lab) == []
    assert sorted((s.hostname, s.role, s.state, s.availability, s.labels["pgha.node"]) for s in st.swarm) == [
        (f"{NAME}-node-{i}", "manager" if i == 1 else "worker", "ready", "active", str(i)) for i in range(1, NODES + 1)
    ]
    for node in lab.nodes:
        with engine(node.engine_url) as e:
            assert e.images.get(BASE_IMAGE).id == docker_api.client().images.get(BASE_IMAGE).id


def test_a_second_up_of_a_healthy_lab_changes_nothing(lab):
    before = {c.name: c.id for c in docker_api.labelled("containers", f"{swarm_lab.LABEL}={NAME}")}
    said: list[str] = []
    assert swarm_lab.up(NAME, NODES, lab.api_port, log=said.append) == lab
    assert {c.name: c.id for c in docker_api.labelled("containers", f"{swarm_lab.LABEL}={NAME}")} == before
    assert any("up already" in line for line in said) and not any("loaded" in line for line in said)


def task_containers(lab) -> dict[str, str]:
    """The service's running task containers' IDs, by the hostname of the node they run on."""
    found = {}
    for node in lab.nodes:
        with engine(node.engine_url) as e:
            running = e.containers.list(filters={"label": f"com.docker.swarm.service.name={SERVICE}"})
            if running:
                found[node.hostname] = running[0].id
    return found


def test_a_service_spreads_over_the_nodes_and_its_tasks_talk_across_hosts(lab):
    with engine(lab.api_url) as manager:
        network = manager.networks.create(f"{NAME}-overlay", driver="overlay", attachable=True)
        service = manager.services.create(
            BASE_IMAGE,
            command=["perl", "-e", ECHO_HOSTNAME],
            name=SERVICE,
            hostname="{{.Node.Hostname}}",
            networks=[network.name],
            mode=ServiceMode("replicated", replicas=NODES),
            maxreplicas=1,  # one task per node
        )

        def spread():
            tasks = service.tasks(filters={"desired-state": "running"})
            running = [t for t in tasks if t["Status"]["State"] == "running"]
            return running if len(running) == NODES else None

        tasks = until(spread, 120, f"{NODES} tasks of {SERVICE} running")
        assert len({t["NodeID"] for t in tasks}) == NODES

    containers = until(lambda: found if len(found := task_containers(lab)) == NODES else None, 30, "task containers")
    with engine(lab.manager.engine_url) as node_1:
        answers = ask_every_task(node_1.containers.get(containers[lab.manager.hostname]))
    # From the task on node 1, every node's task answered: two of them on other hosts, over the overlay.
    assert answers == {n.hostname for n in lab.nodes}


def ask_every_task(asker) -> set[str]:
    """From one task, every task of the service (tasks.<service> in Swarm's DNS) asked for its hostname."""

    def task_addresses():
        resolved = asker.exec_run(["getent", "ahostsv4", f"tasks.{SERVICE}"]).output.decode()
        addresses = sorted({line.split()[0] for line in resolved.splitlines() if line.strip()})
        return addresses if len(addresses) == NODES else None

    addresses = until(task_addresses, 30, f"tasks.{SERVICE} resolving to {NODES} addresses")
    answers = set()
    for address in addresses:
        read = f"exec 3<>/dev/tcp/{address}/{ECHO_PORT} && cat <&3"
        done = asker.exec_run(["timeout", "10", "bash", "-c", read])
        assert done.exit_code == 0, f"{address}: {done.output.decode()}"
        answers.add(done.output.decode().strip())
    return answers


def test_up_mends_a_lab_that_lost_a_node(lab):
    # Stopped, not killed: its engine stops its own containers first (see swarm_lab.STOP_TIMEOUT_S).
    docker_api.client().containers.get(lab.nodes[2].container).stop(timeout=swarm_lab.STOP_TIMEOUT_S)
    assert "pgha-swarm-itest-node-3 is exited" in swarm_lab.problems(swarm_lab.status(NAME), lab)
    start = time.monotonic()
    mended = swarm_lab.up(NAME, NODES, lab.api_port)
    print(f"\nlab made anew in {time.monotonic() - start:.1f}s")
    assert swarm_lab.problems(swarm_lab.status(NAME), mended) == []


def test_down_leaves_nothing(lab):
    swarm_lab.down(NAME)
    assert leftovers() == []
    assert not swarm_lab.status(NAME).exists
