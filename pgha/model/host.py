"""Facts about this host that stack settings depend on: local addresses, taken ports, Docker subnets."""

from __future__ import annotations

import errno
import os
import random
import socket
from dataclasses import dataclass

import docker.errors
from docker.models.resource import Model

from pgha import names
from pgha.clients import docker_api, patroni_api
from pgha.model import swarm
from pgha.model.layout import PUBLISHED_KEYS, Layout
from pgha.model.settings import HostFacts, Settings, chosen_ports, default_subnet, with_ports


def _bind_error(address: str, port: int) -> int:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As Docker's own port proxy does: a port whose last connections linger in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            return exc.errno or -1
    return 0


def _current_leader(containers: list[dict]) -> str | None:
    """The running stack's Patroni leader, asked through the REST ports its nodes publish."""
    urls = [
        f"http://{p['IP']}:{p['PublicPort']}"
        for c in containers
        if c["Labels"].get(names.ROLE_LABEL) == "postgres"
        for p in c.get("Ports", [])
        if p.get("PrivatePort") == 8008 and p.get("PublicPort")
    ]
    try:
        return patroni_api.leader(urls) if urls else None
    except ConnectionError:
        return None


def _swarm_leader(settings: Settings) -> str | None:
    """The running Swarm stack's leader, asked where its nodes publish their REST APIs (None: not deployed)."""
    try:
        return patroni_api.leader(Layout(settings).patroni_api_urls())
    except ConnectionError:
        return None


def _ipv4_subnet(network: Model) -> str:
    """A Docker network's IPv4 subnet; "" when it has none."""
    configs = (network.attrs.get("IPAM") or {}).get("Config") or []
    subnets = [c["Subnet"] for c in configs if "Subnet" in c and ":" not in c["Subnet"]]
    return subnets[-1] if subnets else ""


def _ipv4_subnets() -> dict[str, str]:
    """Every Docker network's IPv4 subnet, by network name."""
    found = ((network.name, _ipv4_subnet(network)) for network in docker_api.client().networks.list())
    return {name: subnet for name, subnet in found if subnet}


def _other_subnets(own_network: str) -> dict[str, str]:
    return {name: subnet for name, subnet in _ipv4_subnets().items() if name != own_network}


def stack_subnet(stack: str) -> str:
    """The subnet of a stack whose config sets none: the one its network has when it is deployed (a subnet never
    moves under a running stack), else the default that no other Docker network overlaps."""
    subnets = _ipv4_subnets()
    own = subnets.pop(names.network(stack), None)
    return own or default_subnet(stack, subnets.values())


def stack_network(stack: str) -> tuple[str, str] | None:
    """The network of the stack's name and label on the local engine, as (ID, IPv4 subnet): the deployed stack's, or
    one a destroy left because the engine would not remove it (pgha/actions/networks.py). None: there is none."""
    name = names.network(stack)
    for network in docker_api.labelled("networks", names.stack_label(stack)):
        if network.name == name:
            return network.id, _ipv4_subnet(network)
    return None


def _host_ports(container: dict) -> dict[int, int]:
    """What a container publishes, running or not: the port inside -> the host's port."""
    bindings = (container.get("HostConfig") or {}).get("PortBindings") or {}
    return {
        int(inside.split("/")[0]): int(binding["HostPort"])
        for inside, listed in bindings.items()
        for binding in listed or []
        if binding.get("HostPort")
    }


def _published_keys(stack: str, container: dict) -> dict[str, int]:
    """The port keys a container of the stack shows, each as the stack set it (the member's offset taken off)."""
    keys, step = PUBLISHED_KEYS.get(container["Config"]["Labels"].get(names.ROLE_LABEL, ""), ({}, 0))
    member = names.member_of(stack, container["Name"]) or ""
    offset = step * (names.member_index(member) - 1) if step else 0
    return {keys[inside]: port - offset for inside, port in _host_ports(container).items() if inside in keys}


@dataclass(frozen=True)
class PortUse:
    """The engine's published ports as they bear on a stack: its own (also while a container is stopped, when no
    socket shows them), by key; and every other container's. With Docker's userland proxy off a published port is a
    NAT rule, not a bound socket: only the engine can tell it is taken."""

    kept: dict[str, int]  # the stack's port keys as its containers publish them
    own: frozenset[int]
    others: frozenset[int]

    def taken(self, address: str, port: int) -> bool:
        return port in self.others or (port not in self.own and _bind_error(address, port) == errno.EADDRINUSE)


def port_use(stack: str) -> PortUse:
    kept: dict[str, int] = {}
    own: set[int] = set()
    others: set[int] = set()
    for container in docker_api.client().containers.list(all=True, ignore_removed=True):
        published = _host_ports(container.attrs)
        if container.labels.get(names.STACK_LABEL) == stack:
            kept |= _published_keys(stack, container.attrs)
            own |= set(published.values())
        else:
            others |= set(published.values())
    return PortUse(kept, frozenset(own), frozenset(others))


def stack_ports(settings: Settings, unset: list[str]) -> Settings:
    """The settings with ports for the port keys the stack's config leaves unset: the ones its containers publish when
    it is deployed (a deployed stack never moves), else the first block no process and no other container holds."""
    if settings.engine == "swarm" or not unset:
        return settings
    use = port_use(settings.stack)
    ports = chosen_ports(settings, unset, use.kept, lambda port: use.taken(settings.bind_address, port))
    return with_ports(settings, ports)


def swarm_lab_engines(lab: str) -> list[str]:
    """The engine URLs of a `make swarm-lab` lab's nodes on this host, node 1 (the manager) first; [] when there is no
    such lab. A node's address is its fixed one, known even while the node is stopped."""
    nodes = {}
    for container in docker_api.labelled("containers", f"{swarm.LAB_LABEL}={lab}"):
        for network in container.attrs["NetworkSettings"]["Networks"].values():
            address = (network.get("IPAMConfig") or {}).get("IPv4Address") or network.get("IPAddress")
            if address:
                nodes[int(container.attrs["Labels"][swarm.LAB_NODE_LABEL])] = f"tcp://{address}:{swarm.LAB_ENGINE_PORT}"
    return [nodes[i] for i in sorted(nodes)]


# Below the kernel's ephemeral range (32768 on): a port the kernel handed out as free could be taken by any outgoing
# connection before the stack binds it. Above every port a stack of the tests or the experiments publishes.
FREE_PORT_RANGE = range(30000, 32768)


def free_ports(count: int) -> list[int]:
    """`count` different ports that no process holds on any address now, drawn from FREE_PORT_RANGE."""
    found: list[int] = []
    for port in random.sample(FREE_PORT_RANGE, len(FREE_PORT_RANGE)):
        if len(found) == count:
            break
        if _bind_error("0.0.0.0", port) == 0:
            found.append(port)
    if len(found) < count:
        raise RuntimeError(f"fewer than {count} free ports in {FREE_PORT_RANGE}")
    return found


def running_stanzas(stack: str) -> tuple[str | None, str | None]:
    """The stanza the stack's repository host runs on and the one it was restored from, as its environment names
    them; None where it has none (not deployed, or no backups)."""
    try:
        env = docker_api.client().containers.get(names.container(stack, "pgbackrest")).attrs["Config"]["Env"] or []
    except docker.errors.NotFound:
        return None, None
    found = dict(item.split("=", 1) for item in env if "=" in item)
    return found.get(names.STANZA_ENV), found.get(names.RESTORED_STANZA_ENV)


def gather(settings: Settings) -> HostFacts:
    """Raises docker.errors.DockerException when the engine does not answer. On a Swarm the stack's ports are the
    nodes', not this host's: only the subnets are this host's business (a lab's nodes are on it)."""
    if settings.engine == "swarm":
        return HostFacts(True, frozenset(), _other_subnets(settings.prefix), 0, _swarm_leader(settings), 0)
    local = _bind_error(settings.bind_address, 0) != errno.EADDRNOTAVAIL
    containers = [c.attrs for c in docker_api.labelled("containers", names.stack_label(settings.stack))]
    use = port_use(settings.stack)
    busy = {port for port in settings.published_ports().values() if local and use.taken(settings.bind_address, port)}
    etcd = sum(1 for c in containers if c["Labels"].get(names.ROLE_LABEL) == "etcd")
    return HostFacts(
        local,
        frozenset(busy),
        _other_subnets(settings.prefix),
        etcd,
        _current_leader(containers),
        os.stat(docker_api.DOCKER_SOCKET).st_gid,
    )
