"""A stack network's end on the local engine, as `pulumi destroy` reaches it (components/network.py): the members
stopped one at a time, then, once every member is gone, the network removed, or one line saying what the engine keeps
and the command that clears it.

Docker 20.10 (and 27, docker/cli#5243) can refuse to remove a network that no container uses: `has active
endpoints`, with none listed (moby#42119). Its libnetwork refuses by an endpoint count kept in its store, apart from
the endpoints themselves. It creates endpoints one at a time per network, but deletes them without that lock, and
deletions that overlap (containers stopping together) can lose a decrement or apply one twice. Once the count is
off, no API request sets it right and `docker network disconnect -f` finds no endpoint to drop: only the engine's
restart recounts it. `pulumi destroy` stops every container at once; stop_in_turn() stops them one after the other
first, so that their endpoints go one at a time. An endpoint listed whose container is gone is another matter:
`docker network disconnect -f NETWORK <endpoint name>` drops it, and release() does.
This code also runs in Pulumi's dynamic provider process.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import docker.errors

from pgha import names
from pgha.clients import docker_api
from pgha.model.layout import POSTGRES_STOP_GRACE_S

RELEASE_S = 30.0  # how long endpoints may take to go once their containers are removed
POLL_S = 1.0
ACTIVE_ENDPOINTS = "has active endpoints"
BUG = "moby#42119"


# Stopped last, in this order: the ones the others lean on (Patroni on etcd). Each role's grace before SIGKILL is
# the one Pulumi's own removal gives its containers (components/patroni.py).
LAST = ("postgres", "etcd")
GRACE_S = {"postgres": POSTGRES_STOP_GRACE_S}


def stop_order(members: dict[str, str]) -> list[str]:
    """The containers (name -> role) in the order to stop them: every other role first, then LAST's."""
    rank = lambda name: (LAST.index(members[name]) + 1 if members[name] in LAST else 0, name)  # noqa: E731
    return sorted(members, key=rank)


def stop_in_turn(stack: str) -> list[str]:
    """Stops the stack's running containers one after the other, each one's endpoint released before the next stop
    (inspecting a container waits for the engine to finish with its exit). Returns the names stopped."""
    engine = docker_api.client()
    running = {
        c.attrs["Names"][0].lstrip("/"): c.attrs["Labels"].get(names.ROLE_LABEL, "")
        for c in docker_api.labelled("containers", names.stack_label(stack))
        if c.attrs.get("State") == "running"
    }
    stopped = []
    for name in stop_order(running):
        try:
            engine.api.stop(name, timeout=GRACE_S.get(running[name], 0))
            engine.api.inspect_container(name)
        except docker.errors.NotFound:
            continue
        stopped.append(name)
    return stopped


@dataclass(frozen=True)
class Endpoint:
    name: str  # the endpoint's name: its container's
    container: str | None  # the container ID the engine lists it under; None for an endpoint with no sandbox
    endpoint_id: str


def endpoints(inspection: dict) -> list[Endpoint]:
    """The endpoints `docker network inspect` lists: under their container's ID, or `ep-<endpoint ID>` when the
    engine knows no sandbox for them."""
    found = []
    for key, info in sorted((inspection.get("Containers") or {}).items()):
        container = None if key.startswith("ep-") else key
        found.append(Endpoint(info.get("Name") or "", container, info.get("EndpointID") or key.removeprefix("ep-")))
    return found


@dataclass(frozen=True)
class Step:
    """What to do next about a network whose stack is gone."""

    disconnect: tuple[str, ...] = ()  # endpoints whose container no longer exists: force them off, by name
    held_by: tuple[str, ...] = ()  # containers that exist and are still attached: wait for them
    remove: bool = False  # nothing listed: ask the engine to remove the network


def next_step(inspection: dict, exists: Callable[[str], bool]) -> Step:
    """`exists` says whether a container of that ID or name is on the engine. An endpoint whose container exists,
    under its ID or its name, is left alone: a member still going, or a container someone else attached."""
    stale: list[str] = []
    held: list[str] = []
    for endpoint in endpoints(inspection):
        alive = any(ref and exists(ref) for ref in (endpoint.container, endpoint.name))
        (held if alive else stale).append(endpoint.name or endpoint.endpoint_id)
    return Step(tuple(stale), tuple(held), not stale and not held)


def restart_command() -> str:
    """How this host restarts its Docker engine: systemd's unit, else the dockerd `make setup` starts."""
    if os.path.isdir("/run/systemd/system"):
        return "`systemctl restart docker`"
    return "stop dockerd, then `make setup`"


def left_behind(name: str, stack: str, step: Step) -> str:
    """One line: what is left of the stack's network, and the command that clears it."""
    if step.held_by:
        commands = "; ".join(f"docker network disconnect -f {name} {c}" for c in step.held_by)
        return (
            f"pgha: network {name} is left: {', '.join(step.held_by)} still attached (not the stack's); "
            f"clear it with `{commands}; docker network rm {name}`"
        )
    what = (
        f"endpoints {', '.join(step.disconnect)} whose containers are gone and that the engine would not drop"
        if step.disconnect
        else "the engine still counts an endpoint on it that no container holds"
    )
    return (
        f"pgha: network {name} is left: {what} (Docker's stale endpoint, {BUG}); restart the engine "
        f"({restart_command()}) and run `docker network rm {name}`; meanwhile `make up STACK={stack}` reuses it"
    )


def _exists(engine, ref: str) -> bool:
    try:
        engine.api.inspect_container(ref)
    except docker.errors.NotFound:
        return False
    return True


def _force_disconnect(engine, network_id: str, endpoint: str) -> None:
    """Drops an endpoint whose container is gone: the engine then deletes the endpoint by its name."""
    # Gone meanwhile, or refused: the next look at the network says which.
    with contextlib.suppress(docker.errors.APIError):
        engine.api.disconnect_container_from_network(endpoint, network_id, force=True)


def release(network_id: str, name: str, stack: str, deadline_s: float = RELEASE_S) -> str | None:
    """Removes the network once no endpoint holds it, forcing off those whose container is gone; waits `deadline_s`
    at most for the others. None once the network is gone; else the one line left_behind() words. Raises
    DockerException when the engine does not answer, or refuses the removal for another reason."""
    engine = docker_api.client()
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            step = next_step(engine.api.inspect_network(network_id), lambda ref: _exists(engine, ref))
        except docker.errors.NotFound:
            return None
        for endpoint in step.disconnect:
            _force_disconnect(engine, network_id, endpoint)
        if step.remove:
            try:
                engine.api.remove_network(network_id)
                return None
            except docker.errors.NotFound:
                return None
            except docker.errors.APIError as exc:
                if ACTIVE_ENDPOINTS not in str(exc):
                    raise
        if time.monotonic() >= deadline:
            return left_behind(name, stack, step)
        time.sleep(POLL_S)
