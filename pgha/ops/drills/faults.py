"""Failure scenarios: how each one is injected into a stack's containers, and how it is healed.

Every container fault acts on a member's Place (pgha/ops/target.py): its container on the local engine, or on a
Swarm stack its current task on its node's engine. There the heal differs: Swarm does not start a killed or stopped
task's container again, it starts a new task (restart policy any), so healing waits for that one instead. The host
scenarios (kill-host, partition-host, pause-host) break the Swarm lab node that holds the primary
(pgha/ops/lab/lab_hosts.py). A scenario that cannot act on a stack says why before a drill starts (refusal()).
"""

from __future__ import annotations

import functools
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import docker
import docker.errors

from pgha import names
from pgha.actions import rolling
from pgha.clients import docker_api, patroni_api
from pgha.model.swarm import node_host
from pgha.ops.drills import image_update
from pgha.ops.lab import lab_hosts
from pgha.ops.target import Place, Target, role_of

RESTART_DELAY_RESET_S = 10.0  # Docker's restart policy resets its delay after a container ran this long
# Swarm's new task for a killed one: its restart delay (5 s by default) plus the start; a node just back first
# reports its old tasks dead.
NEW_TASK_TIMEOUT_S = 120.0
# A node back from a host fault: how long its tasks from before may still be replaced by Swarm (its heartbeat grace,
# 11-16 s measured, twice over) before heal takes them as kept.
KEEP_OLD_TASK_S = 30.0


class Refused(ValueError):
    """The scenario cannot act on this stack: the message says why, before anything is done."""


@dataclass
class Context:
    target: Target
    primary: str  # member name of the primary when the trial began
    members: list[dict]  # Patroni's /cluster members then
    ttl: int  # Patroni's leader-lock TTL, seconds
    touched: list[Place] = field(default_factory=list)  # containers the fault acted on
    notes: list[str] = field(default_factory=list)
    host: lab_hosts.LabHost | None = None  # the lab node a host scenario broke
    tasks_before: dict[str, str] = field(default_factory=dict)  # member -> the manager's task id, before it

    def place(self, short: str) -> Place:
        """Where the member's container is: looked up before the fault, so that the fault itself is one engine
        request (a drill times the outage from the moment it injects the fault)."""
        return self.target.place(short)


def _start_all(ctx: Context) -> None:
    """One engine: start what the fault stopped. A Swarm: wait for the tasks Swarm starts in their place."""
    if ctx.target.is_swarm:
        _until_replaced(ctx)
        return
    for place in ctx.touched:
        place.api.start(place.container)


def _replacement_waiting(target: Target, old: Place) -> str | None:
    """None once the member runs a task container other than the one the fault hit; else what is awaited."""
    try:
        now = target.place(old.member)
        running = now.api.inspect_container(now.container)["State"]["Running"]
    except (LookupError, docker.errors.DockerException, OSError) as exc:
        return f"{old.member}: {exc}"
    if now.container == old.container:
        return f"{old.member}: no new task yet, its killed one {old.container[:12]} is the latest"
    return None if running else f"{old.member}: its new task {now.container[:12]} is not running yet"


def _until_replaced(ctx: Context) -> None:
    for old in ctx.touched:
        waiting = functools.partial(_replacement_waiting, ctx.target, old)
        took = lab_hosts.until(waiting, NEW_TASK_TIMEOUT_S, f"Swarm's new task of {old.member}")
        ctx.notes.append(f"{old.member}: Swarm's new task running {took:.1f}s into the heal")


def _kill(ctx: Context, short: str) -> None:
    place = ctx.place(short)
    ctx.touched.append(place)
    place.api.kill(place.container)


def _replica(ctx: Context) -> str:
    """The synchronous standby when there is one (losing it is what synchronous mode must survive)."""
    replicas = [m for m in ctx.members if m["role"] != "leader"]
    sync = [m for m in replicas if m["role"] in ("sync_standby", "quorum_standby")]
    return (sync or replicas)[0]["name"]


def kill_primary(ctx: Context) -> None:
    _kill(ctx, ctx.primary)


def stop_primary(ctx: Context) -> None:
    place = ctx.place(ctx.primary)
    ctx.touched.append(place)
    place.api.stop(place.container)


def switchover_held(ctx: Context) -> None:
    """`make switchover`: the leader pools hold their clients from Patroni's request to the new primary."""
    ctx.notes.append(patroni_api.switchover(ctx.target.patroni_apis, ctx.target.api_password))


def rolling_restart(ctx: Context) -> None:
    """Every node restarted in the rolling order, as a parameter that needs a restart makes `pulumi up` do."""
    done = rolling.restart(ctx.target.patroni_apis, ctx.target.api_password, pending_only=False)
    ctx.notes.append("restarted in turn: " + ", ".join(done))


def rolling_image_update(ctx: Context) -> None:
    """`pulumi up` with a new node image: the members replaced one at a time, the leader last after a handover."""
    revision = image_update.roll_forward(ctx.target.stack)
    ctx.notes.append(f"node image revision {revision} rolled out; healing rolls the stack's own image back")


def roll_back_image(ctx: Context) -> None:
    image_update.roll_back(ctx.target.stack)


def kill_replica(ctx: Context) -> None:
    _kill(ctx, _replica(ctx))


def kill_etcd_member(ctx: Context) -> None:
    _kill(ctx, "etcd-1")


def kill_pgbouncer(ctx: Context) -> None:
    """A crash, not `docker kill`: SIGKILL its process from the host, so the restart policy applies. On a Swarm node
    its PID is in the node's namespace, not this host's, and any end of a task makes Swarm start a new one: the
    engine's kill is that crash."""
    place = ctx.place(ctx.primary.replace("postgres-", "pgbouncer-"))
    ctx.touched.append(place)
    if ctx.target.is_swarm:
        place.api.kill(place.container)
        return
    state = place.api.inspect_container(place.container)["State"]
    # A container with no process (stopped, restarting, created) reports Pid 0, and os.kill(0, ...) signals our
    # own process group: pgha, pytest and all. Only a real process of the container's is ever signalled.
    if not state["Running"] or state["Pid"] <= 1:
        raise RuntimeError(
            f"kill-pgbouncer: {place.container} is {state['Status']} (Pid {state['Pid']}), no process of its to kill; "
            "nothing was signalled"
        )
    os.kill(state["Pid"], signal.SIGKILL)


def _until_restart_delay_reset(ctx: Context) -> None:
    """Docker doubles a crashed container's restart delay (from 100 ms) until it has run 10 s in one go; heal
    waits that long, so that a trial does not inherit the delay the previous trial's crash built up. Swarm's delay
    is fixed: there, heal waits for the new task."""
    if ctx.target.is_swarm:
        _until_replaced(ctx)
        return
    deadline = time.monotonic() + RESTART_DELAY_RESET_S + 60
    for place in ctx.touched:
        while _running_for(place) < RESTART_DELAY_RESET_S:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{place.container} has not run {RESTART_DELAY_RESET_S:.0f} s in one go since its crash"
                )
            time.sleep(0.5)


def _running_for(place: Place) -> float:
    state = place.api.inspect_container(place.container)["State"]
    if not state["Running"]:
        return 0.0
    # Docker gives nanoseconds; Python parses up to microseconds.
    started = datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", state["StartedAt"]).replace("Z", "+00:00"))
    return (datetime.now(UTC) - started).total_seconds()


def restart_haproxy(ctx: Context) -> None:
    """haproxy-1: the instance clients listing them all try first, so the one whose loss they must ride out. On a
    Swarm, a task is not restarted in place: it is stopped, and heal waits for the new task Swarm starts."""
    place = ctx.place("haproxy-1")
    if ctx.target.is_swarm:
        ctx.touched.append(place)
        place.api.stop(place.container)
        return
    place.api.restart(place.container)


def pause_primary(ctx: Context) -> None:
    """Freeze the primary past the lock's TTL: a new leader must be elected meanwhile."""
    place = ctx.place(ctx.primary)
    place.api.pause(place.container)
    ctx.notes.append(f"paused {ctx.primary}; unpaused 5 s after another member became leader")
    _until_another_leader(ctx)
    place.api.unpause(place.container)


def partition_primary(ctx: Context) -> None:
    """Cut the primary off the stack network past the TTL, then put it back at its own address."""
    if ctx.target.is_swarm:
        _partition_task(ctx)
        return
    place, network = ctx.place(ctx.primary), names.network(ctx.target.stack)
    address = place.api.inspect_container(place.container)["NetworkSettings"]["Networks"][network]["IPAddress"]
    place.api.disconnect_container_from_network(place.container, network, force=True)
    _until_another_leader(ctx)
    place.api.connect_container_to_network(place.container, network, ipv4_address=address, aliases=[ctx.primary])


def _partition_task(ctx: Context) -> None:
    """On a Swarm: the primary's task container off every network it has, past the TTL. Its overlay endpoint is
    Swarm's: connected again by hand it comes back with no address and out of the service's DNS (measured on the
    lab), so the cut-off task is killed instead and heal waits for the new task Swarm starts on the same node and
    volume, where Patroni rejoins as a replica."""
    place = ctx.place(ctx.primary)
    networks = list(place.api.inspect_container(place.container)["NetworkSettings"]["Networks"])
    for network in networks:
        place.api.disconnect_container_from_network(place.container, network, force=True)
    _until_another_leader(ctx)
    ctx.touched.append(place)
    place.api.kill(place.container)
    ctx.notes.append(f"{ctx.primary}'s task cut off {', '.join(networks)}; killed once another member led")


def etcd_quorum_loss(ctx: Context) -> None:
    """Stop a majority of etcd for twice the TTL; failsafe mode should keep the primary writable."""
    etcd = sorted(n for n in ctx.target.containers("etcd"))
    for short in etcd[: len(etcd) // 2 + 1]:
        place = ctx.place(short)
        ctx.touched.append(place)
        place.api.stop(place.container)
    time.sleep(2 * ctx.ttl)
    _start_all(ctx)


def _until_another_leader(ctx: Context) -> None:
    """Waits (TTL + 60 s at most) until a member other than the cut-off primary leads, then 5 s more."""
    others = [u for u, m in zip(ctx.target.patroni_apis, _member_names(ctx), strict=True) if m != ctx.primary]
    deadline = time.monotonic() + ctx.ttl + 60
    while time.monotonic() < deadline and _leader_among(others) in (None, ctx.primary):
        time.sleep(0.5)
    time.sleep(5)


def _member_names(ctx: Context) -> list[str]:
    return [f"postgres-{i}" for i in range(1, len(ctx.target.patroni_apis) + 1)]


def _leader_among(api_urls: list[str]) -> str | None:
    try:
        return patroni_api.leader(api_urls)
    except (ConnectionError, KeyError):
        return None


# --- whole hosts: the Swarm lab node that holds the primary --------------------------------------------------------


def members_on(target: Target, node: int) -> list[str]:
    """Every placed member on the node: what a host fault takes down with it."""
    return sorted(member for member, placed in target.placement.items() if placed == node)


def host_refusal(name: str, target: Target) -> str | None:
    """Why a host scenario cannot run on the stack: it is not a Swarm stack, or a node that may hold the primary is
    not a lab's container on this machine (a real host is never killed). None: it can."""
    if not target.is_swarm:
        return (
            f"{name} breaks a whole Swarm node, and stack {target.stack} runs on one Docker engine (no swarmNodes "
            f"output): deploy it with pgha:engine swarm onto a Swarm lab (`make swarm-lab`) to drill whole hosts"
        )
    nodes = sorted({node for member, node in target.placement.items() if role_of(member) == "postgres"})
    if not nodes:
        return f"{name}: stack {target.stack}'s placement names no postgres member"
    for node in nodes:
        address = node_host(target.swarm_nodes[node - 1])
        if lab_hosts.find(address) is None:
            return (
                f"{name} acts on a Swarm lab's node containers only, never on a real host: node {node} of stack "
                f"{target.stack} ({address}) is no lab container of this machine's engine (`pgha swarm-lab --status`)"
            )
    return None


def primary_host(target: Target, primary: str) -> tuple[int, lab_hosts.LabHost]:
    """The node that holds the primary (placement and Patroni's leader), and its lab container."""
    if primary not in target.placement:
        raise Refused(f"{primary} is not in stack {target.stack}'s placement: its node is unknown")
    node = target.placement[primary]
    host = lab_hosts.find(node_host(target.swarm_nodes[node - 1]))
    if host is None:
        raise Refused(f"node {node} of stack {target.stack}, which holds {primary}, is no lab container here")
    return node, host


def _break_host(ctx: Context, fault: Callable[[lab_hosts.LabHost], None], what: str) -> None:
    """The fault on the primary's node, then how long the manager takes to list it down: Swarm's heartbeat, the
    only thing that sees a host that sends no event (not waited for when the node is the manager itself). The
    tasks the manager runs are noted first (one request per member, before the fault), so that heal can tell
    Swarm's replacements from them: those on the node, or every member's when the node is the manager's."""
    node, host = primary_host(ctx.target, ctx.primary)
    ctx.tasks_before = {member: _manager_task(ctx.target, member)[0] for member in _watched(ctx.target, node)}
    ctx.host = host
    fault(host)
    ctx.notes.append(f"{what} {host.container} (node {node}: {', '.join(members_on(ctx.target, node))})")
    if node == 1:
        ctx.notes.append("node 1 is the Swarm's only manager: no node list until it is back")
        return
    try:
        took = lab_hosts.until_node(ctx.target.swarm_nodes[0], host, "down", lab_hosts.DOWN_TIMEOUT_S)
        ctx.notes.append(f"the manager listed node {node} down {took:.1f}s after the fault")
    except TimeoutError as exc:
        ctx.notes.append(str(exc))


def _watched(target: Target, node: int) -> list[str]:
    """Whose tasks Swarm may replace once the node is back: the node's own members; when it is the manager's node,
    every member. A manager frozen or cut off past the heartbeat grace finds every worker's heartbeat late when it
    is back, lists them down and replaces their tasks too (measured on the lab: sometimes, after 25 s)."""
    return sorted(target.placement) if node == 1 else members_on(target, node)


def _manager_task(target: Target, member: str) -> tuple[str, str]:
    """The manager's running task of the member: (task id, its container's id); ("", "") when none runs."""
    manager = docker_api.engine(target.swarm_nodes[0])
    tasks = manager.api.tasks(filters={"service": target.container(member), "desired-state": "running"})
    running = [t for t in tasks if t["Status"]["State"] == "running"]
    if not running:
        return "", ""
    return running[0]["ID"], running[0]["Status"]["ContainerStatus"]["ContainerID"]


def _task_waiting(target: Target, member: str, before: str, keep_after: float) -> str | None:
    """None once the manager's running task of the member is one its node's engine runs, and is not the task from
    before the fault, or is that one still at `keep_after` (monotonic). A node back from a fault longer than
    Swarm's heartbeat grace gets new tasks (measured on the lab: after each kill, cut and freeze, the manager's own
    node included, up to ~1 s after it was ready for a worker, later for the manager): the old one listed running
    just after is about to go."""
    try:
        task_id, container = _manager_task(target, member)
        if not task_id:
            return f"{member}: no running task in the manager's view"
        place = target.place(member)
        state = place.api.inspect_container(place.container)["State"]["Status"]
    except (LookupError, docker.errors.DockerException, OSError) as exc:
        return f"{member}: {exc.__class__.__name__} {exc}"[:160]
    if task_id == before and time.monotonic() < keep_after:
        return f"{member}: still its task from before the fault, which Swarm may yet replace"
    if place.container != container:
        return f"{member}: its node runs {place.container[:12]}, the manager's task is {container[:12]}"
    return None if state == "running" else f"{member}: its task container is {state}"


def _heal_host(ctx: Context, undo: Callable[[lab_hosts.LabHost], None]) -> None:
    """Undo the fault, then wait (bounded) for the node ready in the manager's list and every member on it running
    the task the manager means; the drill then waits for the cluster to be whole."""
    if ctx.host is None:
        return  # the fault never reached the node
    start = time.monotonic()
    undo(ctx.host)
    lab_hosts.until_node(ctx.target.swarm_nodes[0], ctx.host, "ready", lab_hosts.NODE_TIMEOUT_S)
    ready = time.monotonic()
    node = ctx.target.placement[ctx.primary]
    for member, before in ctx.tasks_before.items():
        waiting = functools.partial(_task_waiting, ctx.target, member, before, ready + KEEP_OLD_TASK_S)
        lab_hosts.until(waiting, NEW_TASK_TIMEOUT_S, f"{member}'s task on node {ctx.target.placement[member]}")
    kept = [member for member, before in ctx.tasks_before.items() if _manager_task(ctx.target, member)[0] == before]
    ctx.notes.append(
        f"node {node} ready {ready - start:.1f}s into the heal, its members' tasks running "
        f"{time.monotonic() - start:.1f}s" + (f"; Swarm kept the tasks of {', '.join(kept)}" if kept else "")
    )


def kill_host(ctx: Context) -> None:
    _break_host(ctx, lab_hosts.kill, "killed")


def partition_host(ctx: Context) -> None:
    _break_host(ctx, lab_hosts.disconnect, "cut off the lab network:")


def pause_host(ctx: Context) -> None:
    """As pause-primary, a whole host: frozen until another member leads (and 5 s more), then thawed. A client whose
    commit was in flight on it waits for the thaw, as nothing closes its connection: Patroni's API there still
    accepts connections and never answers."""
    _break_host(ctx, lab_hosts.pause, "paused")
    _until_another_leader(ctx)
    if ctx.host is not None:
        lab_hosts.unpause(ctx.host)
        ctx.notes.append("thawed 5 s after another member led")


def restart_host(ctx: Context) -> None:
    _heal_host(ctx, lab_hosts.start)


def reconnect_host(ctx: Context) -> None:
    _heal_host(ctx, lab_hosts.reconnect)


def settle_host(ctx: Context) -> None:
    """The host thawed already (pause_host): the node ready again and its members on the tasks Swarm means."""
    _heal_host(ctx, lambda host: None)


# --- which scenario runs where ----------------------------------------------------------------------------------------


def runs_anywhere(name: str, target: Target) -> str | None:
    return None


def one_engine_only(why: str) -> Callable[[str, Target], str | None]:
    """A scenario refused on Swarm stacks, for the reason given."""
    return lambda name, target: f"{name} is not run on Swarm stacks: {why}" if target.is_swarm else None


@dataclass(frozen=True)
class Scenario:
    name: str
    inject: Callable[[Context], None]
    heal: Callable[[Context], None] = _start_all
    what_to_expect: str = ""
    refuse: Callable[[str, Target], str | None] = runs_anywhere  # why it cannot act on a stack; None: it can

    def refusal(self, target: Target) -> str | None:
        return self.refuse(self.name, target)


def refusals(target: Target, names: list[str]) -> dict[str, str]:
    """Of the scenarios named, those that cannot act on the stack, each with why."""
    found = {name: SCENARIOS[name].refusal(target) for name in names}
    return {name: why for name, why in found.items() if why}


NO_DEATH_EVENT = (
    "a dead host sends no die event, and the failover watcher on it is gone with it (the others listen to their own "
    "engines only): Patroni's leader key expiring in etcd (ttl) ends the old primary's term, then a replica is "
    "promoted; Swarm's heartbeat lists the node down after ~12-15 s and reschedules nothing (every task is pinned)"
)


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("kill-primary", kill_primary, what_to_expect="detected at lock expiry (TTL) with Patroni alone"),
        Scenario("stop-primary", stop_primary, what_to_expect="Patroni releases the lock on shutdown: seconds"),
        Scenario("switchover-held", switchover_held, what_to_expect="planned: commits wait, none fails"),
        Scenario(
            "rolling-restart",
            rolling_restart,
            what_to_expect="planned: replicas, a held switchover, the old primary; no commit fails",
        ),
        Scenario(
            "rolling-image-update",
            rolling_image_update,
            roll_back_image,
            "planned: replicas, a held switchover, the old leader; no commit fails, nor in the roll back",
            one_engine_only("it builds the new node image on this machine's engine, which no Swarm node runs from"),
        ),
        Scenario("partition-primary", partition_primary, what_to_expect="TTL path; the old primary demotes itself"),
        Scenario("pause-primary", pause_primary, what_to_expect="TTL path; the frozen primary must not ack after"),
        Scenario("kill-replica", kill_replica, what_to_expect="writes continue"),
        Scenario("kill-etcd-member", kill_etcd_member, what_to_expect="quorum kept: no outage"),
        Scenario(
            "etcd-quorum-loss",
            etcd_quorum_loss,
            what_to_expect="failsafe mode keeps the primary",
            refuse=one_engine_only(
                "Swarm replaces a stopped etcd task within its restart delay, so a majority cannot be held down "
                "for 2 ttl without scaling the services Pulumi manages"
            ),
        ),
        Scenario("kill-pgbouncer", kill_pgbouncer, _until_restart_delay_reset, "writes fail until Docker restarts it"),
        Scenario(
            "restart-haproxy",
            restart_haproxy,
            what_to_expect="one of the HAProxy pair restarts: new connections go to the other",
        ),
        Scenario(
            "kill-host",
            kill_host,
            restart_host,
            f"the Swarm node with the primary killed, every task on it too: {NO_DEATH_EVENT}. RTO about ttl",
            host_refusal,
        ),
        Scenario(
            "partition-host",
            partition_host,
            reconnect_host,
            "the Swarm node with the primary cut off the others (and from the clients): the old primary cannot reach "
            "etcd's majority and demotes itself, the others elect a new leader once its key expires: RTO about ttl; "
            "Swarm lists the node down after its heartbeat and starts its tasks anew when it is back",
            host_refusal,
        ),
        Scenario(
            "pause-host",
            pause_host,
            settle_host,
            "the Swarm node with the primary frozen (its engine and every task), thawed 5 s after another member "
            f"leads: its TCP peers still connect and nothing answers; {NO_DEATH_EVENT}. A commit in flight there hangs "
            "until the thaw; then the old primary must not acknowledge, and Swarm, having listed the node down, "
            "replaces its tasks",
            host_refusal,
        ),
    )
}
# The scenarios that break a whole Swarm lab node: they run on a lab stack only (host_refusal says why elsewhere).
HOST_SCENARIOS = tuple(name for name, scenario in SCENARIOS.items() if scenario.refuse is host_refusal)
