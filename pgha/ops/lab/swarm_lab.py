"""A Swarm lab on this machine: N Docker engines, each in a container on a bridge network of the lab's own, formed
into a Swarm (node 1 the manager, the others workers), for tests and for people without several machines.

How an engine runs in a container on a host that refuses --privileged is measured in ../shared/notes/swarm-lab.md;
node_spec() says it in code. Everything of a lab carries the label pgha.swarm-lab=<lab> and a name starting with
pgha-swarm-<lab>: `down` removes what carries the label, nothing else. The manager's API is published on
127.0.0.1:<api port> only, where the Pulumi docker provider (and `docker -H`) reach the Swarm.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
from docker.types import IPAMConfig, IPAMPool

from pgha import names
from pgha.clients import docker_api
from pgha.model import swarm
from pgha.model.images import BASE_IMAGE, check_image

LABEL = swarm.LAB_LABEL  # its value: the lab's name; on each container, volume and network of the lab
NODE_LABEL = swarm.LAB_NODE_LABEL  # the node's number, 1 (the manager) to N, on its container
PORT_LABEL = "pgha.swarm-lab.api-port"  # on the manager's container: the host port its API is published on
# The Swarm's own node label, for placement constraints that pin a task to a node: node.labels.pgha.node==2.
SWARM_NODE_LABEL = swarm.NODE_LABEL
NODE_COMPONENT = "swarm-node"  # docker/swarm-node, built as the project's check images are

# Next to the stacks' 10.213.0.0/16 (pgha.model.settings.SUBNET_POOL), and outside 172.16.0.0/12 and 192.168.0.0/16,
# where each inner engine takes its own bridges from (docker0, docker_gwbridge): a node's address must not fall in a
# network its own engine makes. Swarm hands overlay networks /24s out of 10.0.0.0/8 from 10.0.0.0 upwards, so it would
# reach a lab's 10.214.x.0/24 only after some 55,000 networks.
SUBNET_POOL = ipaddress.IPv4Network("10.214.0.0/16")
FIRST_NODE_HOST = 11  # node 1 at .11, node 2 at .12 ...
MAX_NODES = 9
ENGINE_PORT = swarm.LAB_ENGINE_PORT  # each inner engine's API on the lab network (plain TCP: docker/swarm-node)
SWARM_PORT = 2377
DEFAULT_API_PORT = 23750
DEFAULT_NAME = "lab"
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,19}")

ENGINE_TIMEOUT_S = 120.0  # the engines' first start, all at once on two cores
SWARM_TIMEOUT_S = 60.0  # joined workers reported ready by the manager
# `docker stop` of a node: its engine stops its own containers first (dockerd gives them 15 s at most), so that no
# inner container's cgroup is left on the host's cgroup tree.
STOP_TIMEOUT_S = 30
LOAD_TIMEOUT_S = 600  # one `docker load` into one node; the SDK's socket timeout, per read
SWARM_CALL_TIMEOUT_S = 60  # one `swarm init` or `swarm join`: each returns once its node is in (seconds, here)
POLL_S = 0.5
HOST_MODULES = "/lib/modules"


def network_name(lab: str) -> str:
    return names.swarm_lab_network(lab)


def container_name(lab: str, index: int) -> str:
    return names.swarm_lab_node(lab, index)


def volume_name(lab: str, index: int) -> str:
    """The node's /var/lib/docker: its images and containers on the host's disk, not on the container's overlayfs."""
    return f"{names.swarm_lab_node(lab, index)}-docker"


def hostname(lab: str, index: int) -> str:
    """The node's hostname: what `docker node ls` shows and node.hostname constraints match."""
    return f"{lab}-node-{index}"


def name_problem(name: str) -> str | None:
    if NAME_PATTERN.fullmatch(name):
        return None
    return f"lab name {name!r}: expected lower-case letters, digits and dashes, at most 20, not starting with a dash"


def nodes_problem(nodes: int) -> str | None:
    return None if 1 <= nodes <= MAX_NODES else f"--nodes {nodes}: expected 1 to {MAX_NODES}"


@dataclass(frozen=True)
class Node:
    lab: str
    index: int
    address: str

    @property
    def container(self) -> str:
        return container_name(self.lab, self.index)

    @property
    def volume(self) -> str:
        return volume_name(self.lab, self.index)

    @property
    def hostname(self) -> str:
        return hostname(self.lab, self.index)

    @property
    def is_manager(self) -> bool:
        return self.index == 1

    @property
    def engine_url(self) -> str:
        """Its engine on the lab network: reachable from this host (the network's gateway) and from the other nodes."""
        return f"tcp://{self.address}:{ENGINE_PORT}"


@dataclass(frozen=True)
class Lab:
    name: str
    subnet: str
    api_port: int
    nodes: tuple[Node, ...]

    @property
    def network(self) -> str:
        return network_name(self.name)

    @property
    def gateway(self) -> str:
        return str(ipaddress.IPv4Network(self.subnet).network_address + 1)

    @property
    def manager(self) -> Node:
        return self.nodes[0]

    @property
    def api_url(self) -> str:
        """The manager's API as published on this host: where a Pulumi docker provider points (`host`)."""
        return f"tcp://127.0.0.1:{self.api_port}"


def node_address(subnet: str, index: int) -> str:
    return str(ipaddress.IPv4Network(subnet).network_address + FIRST_NODE_HOST + index - 1)


def plan(name: str, nodes: int, subnet: str, api_port: int) -> Lab:
    return Lab(name, subnet, api_port, tuple(Node(name, i, node_address(subnet, i)) for i in range(1, nodes + 1)))


def lab_subnet(name: str, taken: Iterable[str] = ()) -> str:
    """A /24 of SUBNET_POOL: the one the lab's name picks, or the next one that overlaps none of `taken` (this host's
    other Docker networks), so that labs and stacks side by side never share addresses."""
    blocks = list(SUBNET_POOL.subnets(new_prefix=24))
    start = zlib.crc32(name.encode()) % len(blocks)
    used = [ipaddress.ip_network(subnet) for subnet in taken]
    free = (block for block in blocks[start:] + blocks[:start] if not any(block.overlaps(u) for u in used))
    found = next(free, None)
    if found is None:
        raise RuntimeError(f"no /24 of {SUBNET_POOL} is free of this host's Docker networks")
    return str(found)


def node_spec(lab: Lab, node: Node, image: str, host_modules: bool = True) -> dict:
    """The node's container, as the SDK's containers.create takes it. In place of --privileged (refused here: the host
    lacks CAP_SYS_RESOURCE), the flags the note measured an engine in a container to need. `host_modules`: the host
    has /lib/modules, for the inner engine's modprobe (overlay networking wants vxlan and ip_vs). This machine's
    kernel has them built in and no /lib/modules: a bind of a missing path would make Docker create it on the host."""
    labels = {LABEL: lab.name, NODE_LABEL: str(node.index)}
    spec: dict = {
        "image": image,
        "name": node.container,
        "hostname": node.hostname,
        "labels": labels | ({PORT_LABEL: str(lab.api_port)} if node.is_manager else {}),
        "detach": True,
        # Every capability but the one the host lacks, and no seccomp or AppArmor filter: the inner engine mounts,
        # makes namespaces, sets up iptables and VXLAN devices.
        "cap_add": ["ALL"],
        "cap_drop": ["SYS_RESOURCE"],
        "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
        "device_cgroup_rules": ["a *:* rwm"],  # the inner containers' devices
        # The host's cgroup tree (v1), writable: the inner engine makes its containers' cgroups there. Read-only, inner
        # containers fail ("mkdir /sys/fs/cgroup/cpuset/docker: read-only file system").
        "cgroupns": "host",
        "volumes": {
            "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
            node.volume: {"bind": "/var/lib/docker", "mode": "rw"},
        }
        | ({HOST_MODULES: {"bind": HOST_MODULES, "mode": "ro"}} if host_modules else {}),
        "tmpfs": {"/run": "", "/var/run": ""},
        "environment": {
            # Without it overlay tasks fail: "failed to disable IPv6 on container's interface br0".
            "DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE": "1",
            # A task runs the image its node has: without this, the engine first asks a registry for it at every
            # task start (no registry is reachable here), and pins services to registry digests.
            "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE": "1",
        },
        "network": lab.network,
        # A fixed address per node: Swarm's advertised addresses must not move when a node restarts.
        "networking_config": {lab.network: {"IPAMConfig": {"IPv4Address": node.address}}},
    }
    if node.is_manager:
        spec["ports"] = {f"{ENGINE_PORT}/tcp": ("127.0.0.1", lab.api_port)}  # this host only
    return spec


@dataclass
class SwarmNode:
    """A node as the manager sees it."""

    hostname: str
    role: str  # manager | worker
    state: str  # ready | down | unknown | disconnected
    availability: str  # active | pause | drain
    address: str
    labels: dict[str, str]
    leader: bool


def swarm_node(attrs: dict) -> SwarmNode:
    """From the engine's /nodes entry."""
    spec, node_status = attrs.get("Spec", {}), attrs.get("Status", {})
    return SwarmNode(
        hostname=attrs.get("Description", {}).get("Hostname", "?"),
        role=spec.get("Role", "?"),
        state=node_status.get("State", "?"),
        availability=spec.get("Availability", "?"),
        address=node_status.get("Addr", "?"),
        labels=spec.get("Labels") or {},
        leader=bool(attrs.get("ManagerStatus", {}).get("Leader")),
    )


@dataclass
class NodeContainer:
    state: str  # running, exited, created ...
    image: str  # as created: the node image's tag


@dataclass
class LabStatus:
    name: str
    subnet: str | None  # its network's; None: no network
    api_port: int | None  # from the manager's container; None: no manager container
    containers: dict[int, NodeContainer] = field(default_factory=dict)  # by node number
    swarm: list[SwarmNode] = field(default_factory=list)  # as the manager lists them
    volumes: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def exists(self) -> bool:
        """Anything of the lab on this host."""
        return self.subnet is not None or bool(self.containers) or self.volumes > 0


def found_lab(st: LabStatus) -> Lab | None:
    """The lab as its containers and network say it was made; None when too little of it is left to tell."""
    if st.subnet is None or st.api_port is None or not st.containers:
        return None
    return plan(st.name, max(st.containers), st.subnet, st.api_port)


def problems(st: LabStatus, wanted: Lab, image: str | None = None) -> list[str]:
    """What keeps the lab from being `wanted`, healthy: every node running (on `image`, when given), in the Swarm,
    ready, active and labelled, node 1 its leader. Empty: nothing to do."""
    found = []
    if st.subnet != wanted.subnet:
        found.append(f"network {wanted.network} " + (f"has {st.subnet}" if st.subnet else "is missing"))
    for node in wanted.nodes:
        c = st.containers.get(node.index)
        if c is None:
            found.append(f"no container {node.container}")
        elif c.state != "running":
            found.append(f"{node.container} is {c.state}")
        elif image and c.image != image:
            found.append(f"{node.container} runs {c.image}, not the current node image {image}")
    extra = sorted(set(st.containers) - {n.index for n in wanted.nodes})
    if extra:
        found.append(f"{len(st.containers)} node containers, not {len(wanted.nodes)}")
    if st.containers and st.api_port != wanted.api_port:
        found.append(f"the manager's API is published on port {st.api_port}, not {wanted.api_port}")
    found += st.errors
    if found:
        return found  # the Swarm's view is moot, or unknown
    return _swarm_problems(st.swarm, wanted)


def _swarm_problems(swarm: list[SwarmNode], wanted: Lab) -> list[str]:
    found = []
    seen = {s.hostname: s for s in swarm}
    for node in wanted.nodes:
        s = seen.get(node.hostname)
        if s is None:
            found.append(f"{node.hostname} is not in the Swarm")
            continue
        if (s.state, s.availability) != ("ready", "active"):
            found.append(f"{node.hostname} is {s.state} and {s.availability}, not ready and active")
        if s.labels.get(SWARM_NODE_LABEL) != str(node.index):
            found.append(f"{node.hostname} lacks the node label {SWARM_NODE_LABEL}={node.index}")
        if node.is_manager and not s.leader:
            found.append(f"{node.hostname} is not the Swarm's leader")
    strangers = sorted(set(seen) - {n.hostname for n in wanted.nodes})
    if strangers:
        found.append(f"the Swarm has nodes the lab did not make: {', '.join(strangers)}")
    return found


def table(st: LabStatus) -> str:
    """One line per node: its container on this host, and the node as the manager sees it."""
    lab = found_lab(st)
    seen = {s.hostname: s for s in st.swarm}
    rows = [("node", "address", "container", "role", "state", "availability", "labels")]
    for index in sorted(st.containers):
        host_name = hostname(st.name, index)
        s = seen.get(host_name)
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) if s else ""
        rows.append(
            (
                host_name,
                lab.nodes[index - 1].address if lab else "?",
                st.containers[index].state,
                s.role + (" (leader)" if s.leader else "") if s else "-",
                s.state if s else "-",
                s.availability if s else "-",
                labels,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    where = f"network {network_name(st.name)} {st.subnet}" if st.subnet else "no network"
    api = f", manager API tcp://127.0.0.1:{st.api_port}" if st.api_port else ""
    return f"lab {st.name}: {where}{api}\n" + "\n".join(lines)


# --- against the engines ---------------------------------------------------------------------------------------------


def _say(text: str) -> None:
    print(text, flush=True)


@contextlib.contextmanager
def _engine(url: str, timeout: float = 10) -> Iterator[docker.DockerClient]:
    """A client of one inner engine (or of the manager's published API). Making it asks the engine its API version,
    so an engine that does not answer raises here: DockerException, or OSError from the connection."""
    engine = docker.DockerClient(base_url=url, timeout=timeout)
    try:
        yield engine
    finally:
        engine.close()


def _taken_subnets(own_network: str) -> list[str]:
    return [
        config["Subnet"]
        for network in docker_api.client().networks.list()
        if network.name != own_network
        for config in (network.attrs.get("IPAM") or {}).get("Config") or []
        if "Subnet" in config and ":" not in config["Subnet"]
    ]


def _network_subnet(name: str) -> str | None:
    try:
        network = docker_api.client().networks.get(network_name(name))
    except docker.errors.NotFound:
        return None
    configs = (network.attrs.get("IPAM") or {}).get("Config") or [{}]
    return configs[0].get("Subnet")


def _manager_swarm(api_port: int) -> list[SwarmNode]:
    with _engine(f"tcp://127.0.0.1:{api_port}") as manager:
        return [swarm_node(n.attrs) for n in manager.nodes.list()]


def status(name: str = DEFAULT_NAME) -> LabStatus:
    """The lab's containers, network and volumes on this host, and its nodes as the manager sees them."""
    containers = docker_api.labelled("containers", f"{LABEL}={name}")
    st = LabStatus(name, _network_subnet(name), None, volumes=len(docker_api.labelled("volumes", f"{LABEL}={name}")))
    for c in containers:
        labels = c.attrs["Labels"]
        index = int(labels[NODE_LABEL])
        st.containers[index] = NodeContainer(c.attrs["State"], c.attrs["Image"])
        if PORT_LABEL in labels:
            st.api_port = int(labels[PORT_LABEL])
    manager = st.containers.get(1)
    if manager is None or manager.state != "running" or st.api_port is None:
        return st
    try:
        st.swarm = _manager_swarm(st.api_port)
    except docker.errors.APIError as exc:
        st.errors.append(f"the manager answers, but not as a Swarm manager: {exc.explanation}")
    except (docker.errors.DockerException, OSError) as exc:
        st.errors.append(f"the manager's API at tcp://127.0.0.1:{st.api_port} does not answer: {exc}")
    return st


def _until(condition: Callable[[], str | None], timeout: float, what: str) -> float:
    """Polls `condition` (None: met; else what it still waits for) until it is met or the deadline passes. Returns the
    seconds it took; TimeoutError names what was still awaited."""
    start = time.monotonic()
    while (waiting := condition()) is not None:
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s, still {waiting}")
        time.sleep(POLL_S)
    return time.monotonic() - start


def _raise_if_stopped(node: Node) -> None:
    """A node whose container stopped will not answer: say so at once, with the end of its engine's log."""
    container = docker_api.client().containers.get(node.container)
    if container.status != "running":
        tail = container.logs(tail=15).decode(errors="replace").rstrip()
        raise RuntimeError(f"{node.container} is {container.status}; the end of its engine's log:\n{tail}")


def _engines_waiting(lab: Lab) -> str | None:
    waiting = []
    for node in lab.nodes:
        try:
            with _engine(node.engine_url, timeout=3):
                pass
        except (docker.errors.DockerException, OSError):
            _raise_if_stopped(node)
            waiting.append(node)
    if not waiting:
        return None
    hosts = ", ".join(n.hostname for n in waiting)
    return (
        f"waiting for the engines of {hosts} (their logs: {' / '.join(f'docker logs {n.container}' for n in waiting)})"
    )


def _swarm_waiting(lab: Lab) -> str | None:
    seen = {s.hostname: s for s in _manager_swarm(lab.api_port)}
    waiting = [n.hostname for n in lab.nodes if n.hostname not in seen or seen[n.hostname].state != "ready"]
    return f"waiting for {', '.join(waiting)} to be ready in the Swarm" if waiting else None


def _port_taken(port: int) -> bool:
    """Whether something on this host holds the port on 127.0.0.1 (the engine binds published ports itself here)."""
    with socket.socket() as sock:
        # As the engine binds: a port whose last connections linger in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _create(lab: Lab, image: str) -> None:
    host = docker_api.client()
    pool = IPAMPool(subnet=lab.subnet, gateway=lab.gateway)
    host.networks.create(lab.network, driver="bridge", ipam=IPAMConfig(pool_configs=[pool]), labels={LABEL: lab.name})
    # The engine runs on this host (its socket is local), so this host's file system is the one it binds from.
    host_modules = Path(HOST_MODULES).is_dir()
    for node in lab.nodes:
        # Made first, labelled: a volume the engine made for the container would carry no label to be removed by.
        host.volumes.create(node.volume, labels={LABEL: lab.name})
        host.containers.create(**node_spec(lab, node, image, host_modules)).start()


def _form_swarm(lab: Lab) -> None:
    """`swarm init` on node 1, the others join it as workers, and each node gets its number as a Swarm label."""
    with _engine(lab.manager.engine_url, SWARM_CALL_TIMEOUT_S) as manager:
        manager.swarm.init(advertise_addr=lab.manager.address, listen_addr=f"0.0.0.0:{SWARM_PORT}")
        token = manager.swarm.attrs["JoinTokens"]["Worker"]
    for worker in lab.nodes[1:]:
        with _engine(worker.engine_url, SWARM_CALL_TIMEOUT_S) as engine:
            engine.swarm.join(
                remote_addrs=[f"{lab.manager.address}:{SWARM_PORT}"],
                join_token=token,
                listen_addr=f"0.0.0.0:{SWARM_PORT}",
                advertise_addr=worker.address,
            )
    _until(lambda: _swarm_waiting(lab), SWARM_TIMEOUT_S, f"the Swarm of lab {lab.name}")
    by_hostname = {n.hostname: n for n in lab.nodes}
    with _engine(lab.api_url) as manager:
        for swarm_member in manager.nodes.list():
            node = by_hostname[swarm_member.attrs["Description"]["Hostname"]]
            spec = swarm_member.attrs["Spec"]
            swarm_member.update({**spec, "Labels": {**(spec.get("Labels") or {}), SWARM_NODE_LABEL: str(node.index)}})


def _image_id(engine: docker.DockerClient, tag: str) -> str | None:
    try:
        return engine.images.get(tag).id
    except docker.errors.ImageNotFound:
        return None


def load_images(lab: Lab, tags: Sequence[str], log: Callable[[str], None] = _say) -> list[str]:
    """Each image of this host's engine (by tag) into every node that lacks it, or has another image under that tag:
    `docker save` streamed from this host into the node's `docker load`, the nodes side by side. Nothing is pulled:
    no registry is reachable. Returns what was loaded, as "tag -> hostname"."""
    images = {}
    for tag in dict.fromkeys(tags):
        try:
            images[tag] = docker_api.client().images.get(tag)
        except docker.errors.ImageNotFound:
            raise RuntimeError(f"image {tag} is not on this host's engine: nothing to load into the lab") from None

    def load_into(node: Node) -> list[str]:
        loaded = []
        with _engine(node.engine_url, timeout=LOAD_TIMEOUT_S) as engine:
            for tag, image in images.items():
                if _image_id(engine, tag) != image.id:
                    engine.images.load(image.save(named=tag))
                    loaded.append(f"{tag} -> {node.hostname}")
        return loaded

    start = time.monotonic()
    with ThreadPoolExecutor(len(lab.nodes)) as pool:
        loaded = [done for node_done in pool.map(load_into, lab.nodes) for done in node_done]
    if loaded:
        log(f"loaded {len(loaded)} image copies ({', '.join(tags)}) in {time.monotonic() - start:.1f}s")
    return loaded


def up(
    name: str = DEFAULT_NAME,
    nodes: int = 3,
    api_port: int = DEFAULT_API_PORT,
    images: Sequence[str] = (BASE_IMAGE,),
    log: Callable[[str], None] = _say,
) -> Lab:
    """The lab, healthy, with `images` on every node. A healthy lab of that shape is left as it is (only missing images
    are loaded); anything else of that name (half made, stopped, another size or node image) is removed and made anew."""
    problem = name_problem(name) or nodes_problem(nodes)
    if problem:
        raise ValueError(problem)
    start = time.monotonic()
    image = check_image(NODE_COMPONENT)
    log(f"node image {image} ({time.monotonic() - start:.0f}s)")
    current = status(name)
    wanted = plan(name, nodes, current.subnet or lab_subnet(name, _taken_subnets(network_name(name))), api_port)
    found = problems(current, wanted, image)
    if not found:
        log(f"lab {name} is up already: {nodes} nodes ready")
        load_images(wanted, images, log)
        return wanted
    if current.exists:
        log(f"lab {name} is not as wanted ({'; '.join(found)}): removing it to make it anew")
        down(name, log)
        # The subnet is picked again: the lab's own network, gone now, no longer holds it.
        wanted = plan(name, nodes, lab_subnet(name, _taken_subnets(network_name(name))), api_port)
    if _port_taken(api_port):
        raise ValueError(f"port {api_port} on 127.0.0.1 is taken: choose another for the manager's API (--port)")
    made = time.monotonic()
    try:
        _create(wanted, image)
        log(f"network {wanted.network} ({wanted.subnet}) and {nodes} node containers made")
        took = _until(lambda: _engines_waiting(wanted), ENGINE_TIMEOUT_S, f"the engines of lab {name}")
        log(f"engines answering after {took:.1f}s")
        swarm_start = time.monotonic()
        _form_swarm(wanted)
        workers = f"{nodes - 1} worker{'s' if nodes != 2 else ''}"
        log(f"Swarm formed (1 manager, {workers}) and labelled in {time.monotonic() - swarm_start:.1f}s")
        load_images(wanted, images, log)
    except (docker.errors.DockerException, OSError, TimeoutError, RuntimeError) as exc:
        raise RuntimeError(
            f"lab {name} is half made: {exc}\n(`pgha swarm-lab --name {name}` makes it anew, "
            f"`pgha swarm-lab --name {name} --down` removes it)"
        ) from exc
    log(f"lab {name} up in {time.monotonic() - made:.1f}s")
    return wanted


def _remove_container(container_id: str) -> None:
    try:
        container = docker_api.client().containers.get(container_id)
        if container.status == "running":
            container.stop(timeout=STOP_TIMEOUT_S)
        container.remove(force=True)
    except docker.errors.NotFound:
        pass


def down(name: str = DEFAULT_NAME, log: Callable[[str], None] = _say) -> dict[str, int]:
    """Removes every container, volume and network labelled as the lab's; returns how many of each."""
    problem = name_problem(name)
    if problem:
        raise ValueError(problem)
    start = time.monotonic()
    containers = docker_api.labelled("containers", f"{LABEL}={name}")
    if containers:
        with ThreadPoolExecutor(len(containers)) as pool:
            list(pool.map(_remove_container, [c.id for c in containers]))
    volumes = docker_api.labelled("volumes", f"{LABEL}={name}")
    for volume in volumes:
        volume.remove(force=True)
    networks = docker_api.labelled("networks", f"{LABEL}={name}")
    for network in networks:
        network.remove()
    removed = {"containers": len(containers), "volumes": len(volumes), "networks": len(networks)}
    if any(removed.values()):
        log(
            f"lab {name} removed in {time.monotonic() - start:.1f}s: "
            + ", ".join(f"{count} {kind}" for kind, count in removed.items())
        )
    return removed


def summary(lab: Lab) -> str:
    """How to reach the lab, once it is up."""
    nodes = "\n".join(
        f"  {n.hostname}  {n.address}  {'manager' if n.is_manager else 'worker'}  "
        f"node.labels.{SWARM_NODE_LABEL}=={n.index}  (container {n.container})"
        for n in lab.nodes
    )
    return (
        f"lab {lab.name}: a Swarm of {len(lab.nodes)} on network {lab.network} ({lab.subnet})\n{nodes}\n"
        f"manager API: {lab.api_url}  (docker -H {lab.api_url} node ls; the Pulumi docker provider's host)"
    )
