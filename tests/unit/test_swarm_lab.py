"""The Swarm lab's pure parts: names, the subnet it picks, its node containers' flags, its health (no Docker)."""

import contextlib
import ipaddress
import socket

import pytest

from pgha import cli
from pgha.model.images import DOCKER_DIR
from pgha.ops.lab import swarm_lab
from pgha.ops.lab.swarm_lab import LabStatus, NodeContainer, SwarmNode

IMAGE = "pgha-check-swarm-node:0123456789ab"


def lab(nodes=3):
    return swarm_lab.plan("lab", nodes, "10.214.7.0/24", 23750)


def test_everything_of_a_lab_is_named_after_it():
    node = lab().nodes[1]
    assert (lab().network, node.container, node.volume, node.hostname) == (
        "pgha-swarm-lab",
        "pgha-swarm-lab-node-2",
        "pgha-swarm-lab-node-2-docker",
        "lab-node-2",
    )


def test_nodes_have_fixed_addresses_and_node_1_manages():
    nodes = lab(3).nodes
    assert [n.address for n in nodes] == ["10.214.7.11", "10.214.7.12", "10.214.7.13"]
    assert [n.is_manager for n in nodes] == [True, False, False]
    assert lab().manager.engine_url == "tcp://10.214.7.11:2375"
    assert lab().gateway == "10.214.7.1"
    assert lab().api_url == "tcp://127.0.0.1:23750"


@pytest.mark.parametrize("name", ["lab", "ci-2", "a"])
def test_good_names(name):
    assert swarm_lab.name_problem(name) is None


@pytest.mark.parametrize("name", ["", "-lab", "Lab", "lab_1", "a" * 21, "lab/x"])
def test_names_that_would_not_make_docker_names(name):
    assert "lab name" in str(swarm_lab.name_problem(name))


def test_node_counts():
    assert swarm_lab.nodes_problem(1) is None
    assert swarm_lab.nodes_problem(swarm_lab.MAX_NODES) is None
    assert swarm_lab.nodes_problem(0) and swarm_lab.nodes_problem(swarm_lab.MAX_NODES + 1)


def test_the_subnet_is_the_names_own_24_of_the_pool():
    subnet = ipaddress.IPv4Network(swarm_lab.lab_subnet("lab"))
    assert subnet.prefixlen == 24 and subnet.subnet_of(swarm_lab.SUBNET_POOL)
    assert swarm_lab.lab_subnet("lab") == str(subnet)  # the same every time
    assert swarm_lab.lab_subnet("other") != str(subnet)


def test_the_subnet_avoids_every_taken_network():
    first = swarm_lab.lab_subnet("lab")
    # Taken outright, and overlapped by a wider network: the next free /24 each time.
    second = swarm_lab.lab_subnet("lab", [first])
    assert second != first
    wide = str(ipaddress.ip_network(second).supernet(new_prefix=20))
    third = swarm_lab.lab_subnet("lab", [first, wide])
    assert not ipaddress.ip_network(third).overlaps(ipaddress.ip_network(wide))


def test_a_full_pool_is_said():
    with pytest.raises(RuntimeError, match=r"no /24 of 10\.214\.0\.0/16"):
        swarm_lab.lab_subnet("lab", ["10.214.0.0/16"])


def test_a_node_runs_without_privileged_with_the_notes_flags():
    spec = swarm_lab.node_spec(lab(), lab().nodes[1], IMAGE)
    assert "privileged" not in spec
    assert spec["cap_add"] == ["ALL"] and spec["cap_drop"] == ["SYS_RESOURCE"]
    assert set(spec["security_opt"]) == {"seccomp=unconfined", "apparmor=unconfined"}
    assert spec["device_cgroup_rules"] == ["a *:* rwm"]
    assert spec["cgroupns"] == "host"
    assert spec["volumes"]["/sys/fs/cgroup"] == {"bind": "/sys/fs/cgroup", "mode": "rw"}
    assert spec["volumes"]["/lib/modules"]["mode"] == "ro"
    assert "/lib/modules" not in swarm_lab.node_spec(lab(), lab().nodes[1], IMAGE, host_modules=False)["volumes"]
    assert spec["volumes"]["pgha-swarm-lab-node-2-docker"] == {"bind": "/var/lib/docker", "mode": "rw"}
    assert set(spec["tmpfs"]) == {"/run", "/var/run"}
    assert spec["environment"]["DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE"] == "1"
    assert spec["environment"]["DOCKER_SERVICE_PREFER_OFFLINE_IMAGE"] == "1"
    assert spec["image"] == IMAGE
    assert (spec["name"], spec["hostname"]) == ("pgha-swarm-lab-node-2", "lab-node-2")


def test_a_node_has_its_fixed_address_on_the_labs_network():
    spec = swarm_lab.node_spec(lab(), lab().nodes[2], IMAGE)
    assert spec["network"] == "pgha-swarm-lab"
    assert spec["networking_config"] == {"pgha-swarm-lab": {"IPAMConfig": {"IPv4Address": "10.214.7.13"}}}


def test_every_node_is_labelled_as_the_labs_and_only_the_manager_publishes_its_api_on_loopback():
    manager, worker = (swarm_lab.node_spec(lab(), n, IMAGE) for n in lab().nodes[:2])
    assert manager["labels"] == {
        "pgha.swarm-lab": "lab",
        "pgha.swarm-lab.node": "1",
        "pgha.swarm-lab.api-port": "23750",
    }
    assert worker["labels"] == {"pgha.swarm-lab": "lab", "pgha.swarm-lab.node": "2"}
    assert manager["ports"] == {"2375/tcp": ("127.0.0.1", 23750)}
    assert "ports" not in worker


def test_the_dockerfile_starts_the_engine_on_both_sockets_without_the_tls_stall():
    text = (DOCKER_DIR / "swarm-node" / "Dockerfile").read_text()
    assert "FROM ${BASE_IMAGE}" in text and "docker.io" in text and "docker-cli" in text
    for flag in ("--host=unix:///var/run/docker.sock", "--host=tcp://0.0.0.0:2375", "--tls=false"):
        assert flag in text


def test_a_node_as_the_manager_lists_it():
    attrs = {
        "ID": "abc",
        "Description": {"Hostname": "lab-node-1"},
        "Spec": {"Role": "manager", "Availability": "active", "Labels": {"pgha.node": "1"}},
        "Status": {"State": "ready", "Addr": "10.214.7.11"},
        "ManagerStatus": {"Leader": True, "Reachability": "reachable"},
    }
    assert swarm_lab.swarm_node(attrs) == SwarmNode(
        "lab-node-1", "manager", "ready", "active", "10.214.7.11", {"pgha.node": "1"}, True
    )
    worker = swarm_lab.swarm_node({"Description": {"Hostname": "lab-node-2"}, "Spec": {"Role": "worker"}})
    assert (worker.leader, worker.labels, worker.state) == (False, {}, "?")


def healthy(nodes=3):
    return LabStatus(
        "lab",
        "10.214.7.0/24",
        23750,
        containers={i: NodeContainer("running", IMAGE) for i in range(1, nodes + 1)},
        swarm=[
            SwarmNode(
                f"lab-node-{i}",
                "manager" if i == 1 else "worker",
                "ready",
                "active",
                f"10.214.7.{10 + i}",
                {"pgha.node": str(i)},
                i == 1,
            )
            for i in range(1, nodes + 1)
        ],
        volumes=nodes,
    )


def test_a_healthy_lab_needs_nothing():
    assert swarm_lab.problems(healthy(), lab(), IMAGE) == []
    assert swarm_lab.found_lab(healthy()) == lab()


def test_a_half_made_lab_is_named_so():
    st = healthy()
    del st.containers[3]
    st.containers[2].state = "exited"
    st.subnet = None
    assert swarm_lab.problems(st, lab(), IMAGE) == [
        "network pgha-swarm-lab is missing",
        "pgha-swarm-lab-node-2 is exited",
        "no container pgha-swarm-lab-node-3",
    ]


def test_another_shape_or_node_image_is_not_the_wanted_lab():
    assert swarm_lab.problems(healthy(), lab(), "pgha-check-swarm-node:newer") == [
        f"pgha-swarm-lab-node-{i} runs {IMAGE}, not the current node image pgha-check-swarm-node:newer"
        for i in (1, 2, 3)
    ]
    assert swarm_lab.problems(healthy(5), lab(3), IMAGE) == ["5 node containers, not 3"]
    assert swarm_lab.problems(healthy(3), swarm_lab.plan("lab", 3, "10.214.7.0/24", 23751), IMAGE) == [
        "the manager's API is published on port 23750, not 23751"
    ]


def test_the_swarm_as_the_manager_sees_it():
    st = healthy()
    st.swarm[1].state = "down"
    st.swarm[2].labels = {}
    st.swarm[0].leader = False
    st.swarm.append(SwarmNode("elsewhere", "worker", "ready", "active", "10.1.1.1", {}, False))
    assert swarm_lab.problems(st, lab(), IMAGE) == [
        "lab-node-1 is not the Swarm's leader",
        "lab-node-2 is down and active, not ready and active",
        "lab-node-3 lacks the node label pgha.node=3",
        "the Swarm has nodes the lab did not make: elsewhere",
    ]
    st.swarm = st.swarm[:1]
    assert "lab-node-2 is not in the Swarm" in swarm_lab.problems(st, lab(), IMAGE)


def test_an_unanswering_manager_is_a_problem_and_hides_the_swarms_view():
    st = healthy()
    st.swarm, st.errors = [], ["the manager's API at tcp://127.0.0.1:23750 does not answer: refused"]
    assert swarm_lab.problems(st, lab(), IMAGE) == st.errors


def test_nothing_of_a_lab_left():
    st = LabStatus("lab", None, None)
    assert not st.exists and swarm_lab.found_lab(st) is None
    assert LabStatus("lab", None, None, volumes=1).exists


def test_the_status_table_has_a_line_per_node():
    st = healthy()
    st.containers[3].state = "exited"
    st.swarm[2].state = "down"
    lines = swarm_lab.table(st).splitlines()
    assert lines[0] == "lab lab: network pgha-swarm-lab 10.214.7.0/24, manager API tcp://127.0.0.1:23750"
    assert lines[1].split() == ["node", "address", "container", "role", "state", "availability", "labels"]
    assert lines[2].split() == [
        "lab-node-1",
        "10.214.7.11",
        "running",
        "manager",
        "(leader)",
        "ready",
        "active",
        "pgha.node=1",
    ]
    assert lines[4].split() == ["lab-node-3", "10.214.7.13", "exited", "worker", "down", "active", "pgha.node=3"]


def test_the_summary_says_where_the_manager_is():
    text = swarm_lab.summary(lab())
    assert "tcp://127.0.0.1:23750" in text
    assert "lab-node-3  10.214.7.13  worker  node.labels.pgha.node==3" in text


def test_the_verb_brings_the_lab_up_with_the_base_image_and_the_extra_ones(monkeypatch, capsys):
    calls = []

    def up(*args):
        calls.append(args)
        return lab(args[1])

    monkeypatch.setattr(swarm_lab, "up", up)
    assert cli.main(["swarm-lab", "--nodes", "4", "--image", "pgha-etcd:x"]) == 0
    assert calls == [("lab", 4, 23750, ["pgha-base:trixie", "pgha-etcd:x"])]
    assert "tcp://127.0.0.1:23750" in capsys.readouterr().out


def test_the_verb_takes_the_lab_down(monkeypatch, capsys):
    downs = []
    monkeypatch.setattr(swarm_lab, "down", lambda name: downs.append(name))
    assert cli.main(["swarm-lab", "--name", "ci", "--down"]) == 0
    assert downs == ["ci"]


def test_the_verb_refuses_a_bad_size_before_anything_is_made(monkeypatch, capsys):
    monkeypatch.setattr(swarm_lab, "check_image", lambda component: pytest.fail("nothing is built"))
    assert cli.main(["swarm-lab", "--nodes", "0"]) == 2
    assert "--nodes 0" in capsys.readouterr().err


def test_the_verbs_status_exits_1_when_not_healthy(monkeypatch, capsys):
    st = healthy()
    st.swarm[1].state = "down"
    monkeypatch.setattr(swarm_lab, "status", lambda name: st)
    assert cli.main(["swarm-lab", "--status"]) == 1
    assert "lab-node-2 is down and active" in capsys.readouterr().out
    monkeypatch.setattr(swarm_lab, "status", lambda name: healthy())
    assert cli.main(["swarm-lab", "--status"]) == 0


def test_a_wait_ends_when_its_condition_is_met_or_says_what_it_still_awaited(monkeypatch):
    monkeypatch.setattr(swarm_lab.time, "sleep", lambda s: None)
    answers = iter(["waiting for lab-node-2", None])
    assert swarm_lab._until(lambda: next(answers), 60, "the engines") >= 0
    with pytest.raises(TimeoutError, match="the engines: not within 0s, still waiting for lab-node-3"):
        swarm_lab._until(lambda: "waiting for lab-node-3", 0, "the engines")


class FakeImage:
    def __init__(self, image_id):
        self.id = image_id

    def save(self, named):
        return iter([f"tar of {named}".encode()])


class FakeImages:
    def __init__(self, present):
        self.present, self.loaded = present, []

    def get(self, tag):
        if tag not in self.present:
            raise swarm_lab.docker.errors.ImageNotFound(tag)
        return FakeImage(self.present[tag])

    def load(self, data):
        self.loaded.append(b"".join(data))


class FakeEngine:
    def __init__(self, present):
        self.images = FakeImages(present)


def test_images_go_only_where_they_are_missing_or_differ(monkeypatch):
    host = FakeEngine({"pgha-base:trixie": "sha256:b", "pgha-etcd:x": "sha256:e"})
    nodes = {
        "tcp://10.214.7.11:2375": FakeEngine({"pgha-base:trixie": "sha256:b", "pgha-etcd:x": "sha256:e"}),
        "tcp://10.214.7.12:2375": FakeEngine({"pgha-base:trixie": "sha256:old"}),
        "tcp://10.214.7.13:2375": FakeEngine({}),
    }
    monkeypatch.setattr(swarm_lab.docker_api, "client", lambda: host)
    monkeypatch.setattr(swarm_lab, "_engine", lambda url, timeout: contextlib.nullcontext(nodes[url]))
    loaded = swarm_lab.load_images(lab(), ["pgha-base:trixie", "pgha-etcd:x", "pgha-base:trixie"], log=lambda s: None)
    assert sorted(loaded) == [
        "pgha-base:trixie -> lab-node-2",
        "pgha-base:trixie -> lab-node-3",
        "pgha-etcd:x -> lab-node-2",
        "pgha-etcd:x -> lab-node-3",
    ]
    assert nodes["tcp://10.214.7.11:2375"].images.loaded == []
    assert nodes["tcp://10.214.7.13:2375"].images.loaded == [b"tar of pgha-base:trixie", b"tar of pgha-etcd:x"]


def test_an_image_missing_on_this_host_is_said(monkeypatch):
    monkeypatch.setattr(swarm_lab.docker_api, "client", lambda: FakeEngine({}))
    with pytest.raises(RuntimeError, match="image pgha-etcd:x is not on this host's engine"):
        swarm_lab.load_images(lab(), ["pgha-etcd:x"])


def test_a_held_port_is_seen_before_anything_is_made():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        assert swarm_lab._port_taken(held.getsockname()[1])
