"""Failure scenarios: how each one is injected into a stack's containers, and how it is healed."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import docker

from pgha import docker_api, patroni_api
from pgha.ops import image_update, rolling
from pgha.ops.target import Target

RESTART_DELAY_RESET_S = 10.0  # Docker's restart policy resets its delay after a container ran this long


@dataclass
class Context:
    target: Target
    primary: str  # member name of the primary when the trial began
    members: list[dict]  # Patroni's /cluster members then
    ttl: int  # Patroni's leader-lock TTL, seconds
    touched: list[str] = field(default_factory=list)  # containers the fault acted on
    notes: list[str] = field(default_factory=list)

    def container(self, short: str) -> str:
        return f"pgha-{self.target.stack}-{short}"


def _engine() -> docker.APIClient:
    """The SDK's low-level client: a fault is one engine request, none spent inspecting the container first (a
    drill times the outage from the moment it injects the fault)."""
    return docker_api.client().api


def _start_all(ctx: Context) -> None:
    for name in ctx.touched:
        _engine().start(name)


def _kill(ctx: Context, short: str) -> None:
    ctx.touched.append(ctx.container(short))
    _engine().kill(ctx.container(short))


def _replica(ctx: Context) -> str:
    """The synchronous standby when there is one (losing it is what synchronous mode must survive)."""
    replicas = [m for m in ctx.members if m["role"] != "leader"]
    sync = [m for m in replicas if m["role"] in ("sync_standby", "quorum_standby")]
    return (sync or replicas)[0]["name"]


def kill_primary(ctx: Context) -> None:
    _kill(ctx, ctx.primary)


def stop_primary(ctx: Context) -> None:
    ctx.touched.append(ctx.container(ctx.primary))
    _engine().stop(ctx.container(ctx.primary))


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
    """A crash, not `docker kill`: SIGKILL its process from the host, so the restart policy applies."""
    name = ctx.container(ctx.primary.replace("postgres-", "pgbouncer-"))
    ctx.touched.append(name)
    os.kill(_engine().inspect_container(name)["State"]["Pid"], signal.SIGKILL)


def _until_restart_delay_reset(ctx: Context) -> None:
    """Docker doubles a crashed container's restart delay (from 100 ms) until it has run 10 s in one go; heal
    waits that long, so that a trial does not inherit the delay the previous trial's crash built up."""
    deadline = time.monotonic() + RESTART_DELAY_RESET_S + 60
    for name in ctx.touched:
        while _running_for(name) < RESTART_DELAY_RESET_S:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} has not run {RESTART_DELAY_RESET_S:.0f} s in one go since its crash")
            time.sleep(0.5)


def _running_for(name: str) -> float:
    state = _engine().inspect_container(name)["State"]
    if not state["Running"]:
        return 0.0
    # Docker gives nanoseconds; Python parses up to microseconds.
    started = datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", state["StartedAt"]).replace("Z", "+00:00"))
    return (datetime.now(UTC) - started).total_seconds()


def restart_haproxy(ctx: Context) -> None:
    """haproxy-1: the instance clients listing them all try first, so the one whose loss they must ride out."""
    _engine().restart(ctx.container("haproxy-1"))


def pause_primary(ctx: Context) -> None:
    """Freeze the primary past the lock's TTL: a new leader must be elected meanwhile."""
    name = ctx.container(ctx.primary)
    _engine().pause(name)
    ctx.notes.append(f"paused {name}; unpaused 5 s after another member became leader")
    _until_another_leader(ctx)
    _engine().unpause(name)


def partition_primary(ctx: Context) -> None:
    """Cut the primary off the stack network past the TTL, then put it back at its own address."""
    name, network = ctx.container(ctx.primary), f"pgha-{ctx.target.stack}"
    address = _engine().inspect_container(name)["NetworkSettings"]["Networks"][network]["IPAddress"]
    _engine().disconnect_container_from_network(name, network, force=True)
    _until_another_leader(ctx)
    _engine().connect_container_to_network(name, network, ipv4_address=address, aliases=[ctx.primary])


def etcd_quorum_loss(ctx: Context) -> None:
    """Stop a majority of etcd for twice the TTL; failsafe mode should keep the primary writable."""
    etcd = sorted(n for n in ctx.target.containers("etcd"))
    for short in etcd[: len(etcd) // 2 + 1]:
        ctx.touched.append(ctx.container(short))
        _engine().stop(ctx.container(short))
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


@dataclass(frozen=True)
class Scenario:
    name: str
    inject: Callable[[Context], None]
    heal: Callable[[Context], None] = _start_all
    what_to_expect: str = ""


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
        ),
        Scenario("partition-primary", partition_primary, what_to_expect="TTL path; the old primary demotes itself"),
        Scenario("pause-primary", pause_primary, what_to_expect="TTL path; the frozen primary must not ack after"),
        Scenario("kill-replica", kill_replica, what_to_expect="writes continue"),
        Scenario("kill-etcd-member", kill_etcd_member, what_to_expect="quorum kept: no outage"),
        Scenario("etcd-quorum-loss", etcd_quorum_loss, what_to_expect="failsafe mode keeps the primary"),
        Scenario("kill-pgbouncer", kill_pgbouncer, _until_restart_delay_reset, "writes fail until Docker restarts it"),
        Scenario(
            "restart-haproxy",
            restart_haproxy,
            what_to_expect="one of the HAProxy pair restarts: new connections go to the other",
        ),
    )
}
