"""A rolling restart of a live cluster through Patroni's REST API: replicas one at a time, each back before the
next, then a switchover, then the old primary; never every node at once. Used by the dynamic configuration
(a changed parameter that needs a restart) and by the `rolling-restart` drill (every node); its waits and its
switchover also by the rolling replacement of containers (components/rolling_update.py)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from pgha import names
from pgha.clients import patroni_api

DEADLINE_S = 180.0
POLL_S = 0.2


def members(api_urls: list[str]) -> dict[str, dict]:
    """Members by name, each with the published URL of its REST API (node i publishes api_urls[i-1])."""
    for url in api_urls:
        try:
            found = patroni_api.call(f"{url}/cluster")["members"]
        except (OSError, ValueError, KeyError):
            continue
        index = lambda m: names.member_index(m["name"])  # noqa: E731
        # Members of removed nodes linger until their keys expire: they have no URL here, and no say.
        return {m["name"]: m | {"url": api_urls[index(m) - 1]} for m in found if index(m) <= len(api_urls)}
    raise RuntimeError("no Patroni REST API answered")


def _wait_member(api_urls: list[str], name: str, ready: Callable[[dict], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            if ready(members(api_urls).get(name, {})):
                return
        except RuntimeError:
            pass  # no REST API answered this time: a node is restarting
        time.sleep(POLL_S)
    raise RuntimeError(f"{name} was not {what} within {DEADLINE_S:.0f}s")


SYNC_ROLES = ("sync_standby", "quorum_standby")
RESTART_TIMEOUT_S = 60


def _back(member: dict) -> bool:
    return member.get("state") in ("running", "streaming") and not member.get("pending_restart")


def _back_as(role: str) -> Callable[[dict], bool]:
    """Back, and a synchronous standby again if it was one: until the primary counts it again, the commits of a
    switchover's new primary could wait for the one member still on its way back, the old primary."""
    return lambda member: _back(member) and (role not in SYNC_ROLES or member.get("role") in SYNC_ROLES)


def _restart_member(api_urls: list[str], password: str, name: str) -> None:
    member = members(api_urls)[name]
    # Patroni answers once PostgreSQL has stopped (a shutdown checkpoint) and started again: seconds, more on a busy host.
    patroni_api.call(f"{member['url']}/restart", "POST", {}, password, timeout=RESTART_TIMEOUT_S)
    _wait_member(api_urls, name, _back_as(member["role"]), "back")


def dcs_reads(found: dict[str, dict]) -> dict[str, int | None]:
    """When each member last read etcd (Patroni's dcs_last_seen, whole seconds), None where it did not answer."""
    reads = {}
    for name, member in found.items():
        try:
            reads[name] = patroni_api.call(f"{member['url']}/patroni").get("dcs_last_seen")
        except (OSError, ValueError):
            reads[name] = None
    return reads


def after_two_loops(api_urls: list[str]) -> None:
    """Until every member has read etcd at two later times than now. The first read may predate a change to the
    dynamic configuration; the second saw it, and Patroni flags pending_restart in the HA loop that reloads it."""
    found = members(api_urls)
    later: dict[str, set[int]] = {name: set() for name in found}
    first = dcs_reads(found)
    deadline = time.monotonic() + DEADLINE_S
    while any(len(seen) < 2 for seen in later.values()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"Patroni members did not run two HA loops within {DEADLINE_S:.0f}s: {later}")
        time.sleep(POLL_S)
        for name, read in dcs_reads(found).items():
            before = first[name]
            if read is not None and (before is None or read > before):
                later[name].add(read)


def wait_back(api_urls: list[str], name: str) -> None:
    """Until a member whose container was replaced is back: streaming, and a quorum standby again when the cluster
    commits with a quorum (all of its replicas are, when whole)."""
    quorum = patroni_api.dynamic_config(api_urls).get("synchronous_mode") == "quorum"
    _wait_member(api_urls, name, _back_as("quorum_standby" if quorum else "replica"), "back")


def switch_over_from(api_urls: list[str], password: str, leader: str) -> None:
    """A switchover asked of the leader's own REST API (its HA loop acts at once), until it is a running replica."""
    url = f"{members(api_urls)[leader]['url']}/switchover"
    # No answer in time, but the switchover may be under way: the wait below says whether it happened.
    with contextlib.suppress(TimeoutError):
        patroni_api.call(url, "POST", {"leader": leader}, password, timeout=patroni_api.SWITCHOVER_TIMEOUT_S)
    _wait_member(
        api_urls,
        leader,
        lambda m: m.get("role") != "leader" and m.get("state") in ("running", "streaming"),
        "a replica after the switchover",
    )


def restart(api_urls: list[str], password: str, pending_only: bool) -> list[str]:
    """Restarts the members (only those flagged pending_restart, or all) in the rolling order; returns them."""
    found = members(api_urls)
    leader = next(n for n, m in found.items() if m["role"] == "leader")
    due = lambda m: m.get("pending_restart") or not pending_only  # noqa: E731
    done = []
    for name, member in sorted(found.items()):
        if name != leader and due(member):
            _restart_member(api_urls, password, name)
            done.append(name)
    if due(found[leader]):
        switch_over_from(api_urls, password, leader)
        _restart_member(api_urls, password, leader)
        done.append(leader)
    return done
