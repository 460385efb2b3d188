"""A Swarm lab's node as a drill breaks it: its whole host killed, cut off the lab network, or frozen, and brought
back. A lab node is a container of this machine's engine (pgha/ops/lab/swarm_lab.py), so breaking the "host" is one
request to the local engine; whether it is back is what the Swarm's manager says of it.

`python -m pgha.ops.lab.lab_hosts --lab NAME` measures, on a lab of that name, how fast the manager sees each fault
and each recovery, with a one-replica service pinned to node 2 (the figures in the README come from it).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import docker
import docker.errors

from pgha.clients import docker_api
from pgha.ops.lab import swarm_lab

POLL_S = 0.25
NODE_TIMEOUT_S = 120.0  # a restarted node's engine up and back in the Swarm: ~5 s measured, with room for load
DOWN_TIMEOUT_S = 60.0  # the manager marking a broken node down: Swarm's heartbeat, ~5-10 s measured
TASK_TIMEOUT_S = 120.0  # a pinned task running again on its node once the node is back


@dataclass(frozen=True)
class LabHost:
    """A Swarm node that is a lab's container on this machine."""

    container: str  # its container on the local engine
    network: str  # the lab network it sits on
    address: str  # its fixed address there: what the Swarm and the stack's endpoints know it by
    hostname: str  # as the manager lists it

    @property
    def engine_url(self) -> str:
        return f"tcp://{self.address}:{swarm_lab.ENGINE_PORT}"


def _fixed_address(settings: dict) -> str:
    """The address a lab node was given (kept while it is stopped or cut off), else the one it has."""
    return ((settings.get("IPAMConfig") or {}).get("IPv4Address")) or settings.get("IPAddress") or ""


def find(address: str) -> LabHost | None:
    """The lab node container that has `address` on a network labelled as a lab's; None: no lab node has it (the
    node is a real host, or another machine's)."""
    lab_networks = {n.name for n in docker_api.labelled("networks", swarm_lab.LABEL)}
    for container in docker_api.labelled("containers", swarm_lab.LABEL):
        attrs = container.attrs
        for network, settings in (attrs.get("NetworkSettings", {}).get("Networks") or {}).items():
            if network in lab_networks and _fixed_address(settings) == address:
                labels = attrs["Labels"]
                hostname = swarm_lab.hostname(labels[swarm_lab.LABEL], int(labels[swarm_lab.NODE_LABEL]))
                return LabHost(attrs["Names"][0].lstrip("/"), network, address, hostname)
    return None


# --- the faults and their healing: one request to the local engine each -----------------------------------------


def kill(host: LabHost) -> None:
    """SIGKILL to the node's engine and, with its PID namespace, to every task on it: no engine is left to send a
    `die` event, nor to stop anything in order."""
    docker_api.client().api.kill(host.container)


def start(host: LabHost) -> None:
    docker_api.client().api.start(host.container)


def pause(host: LabHost) -> None:
    """Every process of the node frozen (the cgroup freezer): its TCP peers still connect, nothing answers. `docker
    pause` of the node container freezes its own cgroup only: its engine makes its containers' cgroups beside it on
    the host's tree (cgroupns host), not under it, so they ran on (measured: a primary on a paused node went on
    acknowledging commits). Its running containers are paused first, through its own engine and side by side (one
    after another took 1.8 s, while the primary went on), then the node."""
    engine = docker_api.engine(host.engine_url).api
    running = [c["Id"] for c in engine.containers(filters={"status": "running"})]
    if running:
        with ThreadPoolExecutor(len(running)) as pool:
            list(pool.map(engine.pause, running))
    docker_api.client().api.pause(host.container)


def unpause(host: LabHost) -> None:
    """The node thawed, then the containers pause() froze (the ones still paused: its engine may stop some of them
    as soon as it runs again, when the Swarm replaced their tasks meanwhile)."""
    docker_api.client().api.unpause(host.container)
    engine = docker_api.engine(host.engine_url).api
    for container in engine.containers(filters={"status": "paused"}):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):  # stopped meanwhile
            engine.unpause(container["Id"])


def disconnect(host: LabHost) -> None:
    """The node off the lab network: from the other nodes and from this machine (the network's gateway) alike."""
    docker_api.client().api.disconnect_container_from_network(host.container, host.network, force=True)


def reconnect(host: LabHost) -> None:
    """Back at its own fixed address: the Swarm knows it by that address."""
    docker_api.client().api.connect_container_to_network(host.container, host.network, ipv4_address=host.address)


# --- the Swarm's view -------------------------------------------------------------------------------------------


def node_state(manager_url: str, hostname: str) -> str:
    """The node's state as the manager lists it (ready, down, unknown ...), or why it could not be asked."""
    try:
        nodes = [swarm_lab.swarm_node(n.attrs) for n in docker_api.engine(manager_url).nodes.list()]
    except (docker.errors.DockerException, OSError) as exc:
        return f"the manager does not answer ({exc.__class__.__name__})"
    return next((n.state for n in nodes if n.hostname == hostname), "not in the Swarm")


def until(condition: Callable[[], str | None], timeout: float, what: str) -> float:
    """Polls `condition` (None: met; else what is still awaited) until met or `timeout`; returns the seconds it took.
    TimeoutError names what was still awaited."""
    start_at = time.monotonic()
    while (waiting := condition()) is not None:
        if time.monotonic() - start_at > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s, still {waiting}")
        time.sleep(POLL_S)
    return time.monotonic() - start_at


def until_node(manager_url: str, host: LabHost, wanted: str, timeout: float) -> float:
    """Seconds until the manager lists the node in state `wanted` (ready, down)."""

    def waiting() -> str | None:
        state = node_state(manager_url, host.hostname)
        return None if state == wanted else f"{host.hostname} is {state}"

    return until(waiting, timeout, f"{host.hostname} {wanted} in the manager's node list")


# --- the measurement ------------------------------------------------------------------------------------------------

PROBE_SERVICE = "pgha-swarm-probe"  # inside the lab's Swarm only
PROBE_NODE = 2


def _running_task(manager: docker.DockerClient) -> str | None:
    """The probe service's running task's container id, or None."""
    for task in manager.services.get(PROBE_SERVICE).tasks(filters={"desired-state": "running"}):
        status = task.get("Status", {})
        if status.get("State") == "running":
            return status.get("ContainerStatus", {}).get("ContainerID")
    return None


def _probe_service(manager: docker.DockerClient) -> None:
    """A one-replica service pinned to node PROBE_NODE, made anew, running."""
    for old in manager.services.list(filters={"name": PROBE_SERVICE}):
        old.remove()
    manager.services.create(
        "pgha-base:trixie",
        command=["sleep", "infinity"],
        name=PROBE_SERVICE,
        constraints=[f"node.labels.{swarm_lab.SWARM_NODE_LABEL}=={PROBE_NODE}"],
        restart_policy=docker.types.RestartPolicy(condition="any"),
    )
    until(lambda: None if _running_task(manager) else "no running task", TASK_TIMEOUT_S, "the probe service")


FAULTS: dict[str, tuple[Callable[[LabHost], None], Callable[[LabHost], None]]] = {
    "kill": (kill, start),
    "partition": (disconnect, reconnect),
    "pause": (pause, unpause),
}


def _on_node(node_url: str) -> dict[str, str]:
    """The probe service's task containers on the node, by id: their state as the node's own engine says it."""
    try:
        listed = docker_api.engine(node_url).containers.list(
            all=True, sparse=True, filters={"label": f"com.docker.swarm.service.name={PROBE_SERVICE}"}
        )
    except (docker.errors.DockerException, OSError):
        return {}
    return {c.attrs["Id"]: c.attrs["State"] for c in listed}


def _after_heal(node_url: str, before: str | None, healed: float) -> dict[str, float | None]:
    """Seconds from the heal until a new task container runs on the node, and until the one that ran before the
    fault stopped (None: it never ran again, as after a kill): an overlap is two containers of one task slot
    running at once, on the node's one volume."""
    seen: dict[str, float | None] = {"new_running_s": None, "old_stopped_s": None}
    old_ran = False

    def waiting() -> str | None:
        nonlocal old_ran
        states = _on_node(node_url)
        now = round(time.monotonic() - healed, 1)
        if seen["new_running_s"] is None and any(s == "running" for i, s in states.items() if i != before):
            seen["new_running_s"] = now
        old_ran = old_ran or states.get(before or "") == "running"
        if old_ran and seen["old_stopped_s"] is None and states.get(before or "") != "running":
            seen["old_stopped_s"] = now
        done = seen["new_running_s"] is not None and (not old_ran or seen["old_stopped_s"] is not None)
        return None if done else f"containers {states}"

    until(waiting, TASK_TIMEOUT_S, "the probe's new task, and its old one stopped")
    return seen


def measure(lab: swarm_lab.Lab, fault: str) -> dict[str, object]:
    """One fault on node PROBE_NODE: seconds to `down` in the manager's list; after healing, seconds to `ready`,
    to a new task container running on the node, and to the old one stopped (when it ran again at all)."""
    node = lab.nodes[PROBE_NODE - 1]
    host = find(node.address)
    if host is None:
        raise RuntimeError(f"lab {lab.name} has no node container at {node.address}")
    before = next((i for i, state in _on_node(node.engine_url).items() if state == "running"), None)
    inject, heal = FAULTS[fault]
    inject(host)
    down_s = until_node(lab.manager.engine_url, host, "down", DOWN_TIMEOUT_S)
    healed = time.monotonic()
    heal(host)
    ready_s = until_node(lab.manager.engine_url, host, "ready", NODE_TIMEOUT_S)
    return {"fault": fault, "down_s": round(down_s, 1), "ready_s": round(ready_s, 1)} | _after_heal(
        node.engine_url, before, healed
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="how fast a lab's manager sees a node killed, cut off, paused")
    parser.add_argument("--lab", required=True, help="a lab made by `pgha swarm-lab --name LAB`")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--faults", default=",".join(FAULTS))
    args = parser.parse_args(argv)
    lab = swarm_lab.found_lab(swarm_lab.status(args.lab))
    if lab is None:
        raise SystemExit(f"no lab {args.lab} on this machine (`pgha swarm-lab --name {args.lab}`)")
    manager = docker_api.engine(lab.manager.engine_url)
    _probe_service(manager)
    try:
        for _ in range(args.rounds):
            for fault in args.faults.split(","):
                print(measure(lab, fault), flush=True)
    finally:
        manager.services.get(PROBE_SERVICE).remove()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
