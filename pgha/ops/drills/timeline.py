"""What a client saw during a fault: outage (RTO), lost acknowledged commits (RPO), split brain.

Pure functions over the attempts a probe recorded, so every rule here is unit-tested on its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Attempt:
    seq: int  # the writer's row number, or the reader's attempt number
    start: float  # time.monotonic() when the attempt began
    end: float  # ... and when it finished
    ok: bool
    member: str | None = None  # the PostgreSQL member that answered
    timeline: int | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def outage(attempts: Sequence[Attempt], fault_at: float) -> float:
    """Seconds from the fault to the first success after the last failure (0.0 when nothing failed).

    Raises ValueError when the probe never succeeded again: the outage had not ended.
    """
    after = [a for a in attempts if a.end >= fault_at]
    failures = [a for a in after if not a.ok]
    if not failures:
        return 0.0
    last_failure = max(a.end for a in failures)
    recovered = [a.end for a in after if a.ok and a.start >= last_failure]
    if not recovered:
        raise ValueError("no successful attempt after the last failure: the outage had not ended")
    return round(min(recovered) - fault_at, 3)


def longest_failure_window(attempts: Sequence[Attempt], fault_at: float) -> float:
    """The longest stretch after the fault in which every attempt failed, measured from the last
    success before it (or the fault) to the first success after it. Unlike `outage`, one stray late
    failure does not stretch the figure back to the fault: the read side's outage."""
    ordered = sorted((a for a in attempts if a.end >= fault_at), key=lambda a: a.start)
    longest, last_ok, failing = 0.0, fault_at, False
    for a in ordered:
        if not a.ok:
            failing = True
        elif failing:
            longest, failing = max(longest, a.end - last_ok), False
            last_ok = a.end
        else:
            last_ok = a.end
    if failing:
        raise ValueError("no successful attempt after the last failure: the outage had not ended")
    return round(longest, 3)


def longest_gap(attempts: Sequence[Attempt], fault_at: float) -> float:
    """The longest time between two successes around the fault: a switchover's write gap."""
    ends = sorted(a.end for a in attempts if a.ok)
    before = [t for t in ends if t < fault_at]
    times = ([before[-1]] if before else [fault_at]) + [t for t in ends if t >= fault_at]
    return round(max((b - a for a, b in itertools.pairwise(times)), default=0.0), 3)


def lost_acknowledged(acked: Iterable[int], present_on_each_member: dict[str, set[int]]) -> dict[str, list[int]]:
    """Acknowledged rows missing on each member (empty lists when nothing was lost)."""
    acked = set(acked)
    return {member: sorted(acked - rows) for member, rows in present_on_each_member.items()}


def split_brain(attempts: Sequence[Attempt]) -> bool:
    """True when two members acknowledged writes at overlapping times, or two primaries took writes in turn. Every
    primary writes on a timeline of its own and each new one on a higher one: an acknowledgement on a timeline below
    one already seen, or by a second member on one timeline, came from a primary that should have stopped. (A
    switchover there and back, A then B then A again, puts A on a third timeline: that is no split brain.)"""
    acks = sorted((a for a in attempts if a.ok and a.member), key=lambda a: a.end)
    for a, b in itertools.pairwise(acks):
        if a.member != b.member and b.start < a.end:
            return True
    owners: dict[int, str | None] = {}  # timeline -> the member acknowledging on it
    highest = 0
    for a in acks:
        if a.timeline is not None:
            if a.timeline < highest or owners.setdefault(a.timeline, a.member) != a.member:
                return True
            highest = a.timeline
    return False


def members_in_order(attempts: Sequence[Attempt]) -> list[str]:
    """The members that acknowledged, in the order they first did: [old primary, new primary, ...]."""
    seen: list[str] = []
    for a in sorted(attempts, key=lambda a: a.end):
        if a.ok and a.member and a.member not in seen:
            seen.append(a.member)
    return seen
