"""PostgreSQL parameters that can lose acknowledged commits or corrupt data on a crash.

A stack sets them through pgha:postgresParameters only with pgha:allowUnsafeParameters (pgha.model.settings refuses
them otherwise, and preview warns of each it allows). Plain data in, one line per parameter out.

Not here, deliberately:
- wal_level: Patroni sets it, so pgha refuses any value (pgha.model.postgres_check), allowed or not.
- wal_sync_method: every method PostgreSQL takes on Linux, the nodes' system, waits for the WAL to reach the disk;
  they differ in speed only. A method the platform lacks is refused by PostgreSQL's own check.
- synchronous_commit remote_write: a commit is then lost only if the primary and the standby's system both crash.
- Patroni's settings the stack exposes (synchronousMode off, strictMode false, a large maximumLagOnFailover): they
  trade durability for availability by design, a policy the stack chooses, not a mistake.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# pg_basebackup, how Patroni makes a replica while there is no backup to restore, streams the WAL on a second
# connection beside the one that copies the files, and holds a temporary slot. pg_rewind, which brings a failed
# primary back, reads over an ordinary connection: it needs neither.
BASE_BACKUP_WAL_SENDERS = 2
BASE_BACKUP_SLOTS = 1
BOOLEAN_WORDS = (("true", True), ("false", False), ("yes", True), ("no", False))


@dataclass(frozen=True)
class Cluster:
    """What decides whether a value is safe: pgha:synchronousMode and pgha:postgresNodes."""

    synchronous_mode: str
    nodes: int

    @property
    def standbys(self) -> int:
        return self.nodes - 1


def _word(value: str) -> str:
    """A value as PostgreSQL compares it: case, surrounding spaces and quotes do not count."""
    return value.strip().strip("'\"").strip().lower()


def _boolean(value: str) -> bool | None:
    """A boolean as PostgreSQL reads it: on, off, 1, 0, or true, false, yes, no or a prefix of one (`of` for off);
    None when it is none of these (PostgreSQL's own check refuses it)."""
    word = _word(value)
    if word in ("on", "1"):
        return True
    if word in ("of", "off", "0"):
        return False
    return next((meaning for full, meaning in BOOLEAN_WORDS if word and full.startswith(word)), None)


def _whole_number(value: str) -> int | None:
    """An integer as PostgreSQL reads it: hexadecimal (0x...), octal (0...), or a decimal it rounds."""
    word = _word(value)
    if re.fullmatch(r"[+-]?0x[0-9a-f]+", word):
        return int(word, 16)
    if re.fullmatch(r"[+-]?0[0-7]+", word):
        return int(word, 8)
    if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?", word):
        try:
            return round(float(word))
        except OverflowError:  # past any float: PostgreSQL refuses it too
            return None
    return None


# A switch whose one position risks the data: the unsafe position, and what it risks.
SWITCH_RISKS = {
    "fsync": (
        False,
        "PostgreSQL no longer waits for its writes to reach the disk, so a crash of the host can lose acknowledged "
        "commits and corrupt the data files",
    ),
    "full_page_writes": (
        False,
        "a page that a crash leaves half written cannot be repaired from the WAL, so the data files can be corrupt "
        "after a crash; pg_rewind, which brings a failed primary back, needs it on too",
    ),
    "data_sync_retry": (
        True,
        "after a failed fsync PostgreSQL carries on instead of stopping, although Linux may have dropped the data it "
        "could not write, so the data files can be silently corrupt",
    ),
}


def _switch(name: str) -> Callable[[str, Cluster], str | None]:
    unsafe, risk = SWITCH_RISKS[name]
    return lambda value, _: risk if _boolean(value) is unsafe else None


def _synchronous_commit(value: str, cluster: Cluster) -> str | None:
    """off risks every stack; local only one whose commits wait for a standby (with synchronousMode off, or no
    standby, local is what on does)."""
    if _boolean(value) is False:
        return "a commit is acknowledged before its WAL reaches the disk, so a crash can lose acknowledged commits"
    if _word(value) == "local" and cluster.synchronous_mode != "off" and cluster.standbys:
        return (
            "a commit is acknowledged before a standby has it, although pgha:synchronousMode is "
            f"{cluster.synchronous_mode}, so a failover can lose acknowledged commits"
        )
    return None


def _too_few(value: str, need: int, what: str) -> str | None:
    """What `value` risks when it is below `need`; `what` says what then falls short."""
    given = _whole_number(value)
    if given is None or given >= need:
        return None
    return (
        f"{given} {what}; a standby left without one receives no new commits, which a lost primary then takes "
        f"with it; expected at least {need}"
    )


def _max_wal_senders(value: str, cluster: Cluster) -> str | None:
    """Patroni starts every node with the cluster's one value (a standby may not have fewer than its primary): the
    primary's must let every standby stream, with a base backup beside them."""
    need = cluster.standbys + BASE_BACKUP_WAL_SENDERS
    return _too_few(
        value,
        need,
        f"WAL senders cannot serve the {cluster.standbys} standbys of pgha:postgresNodes = {cluster.nodes} and "
        f"the {BASE_BACKUP_WAL_SENDERS} a base backup opens",
    )


def _max_replication_slots(value: str, cluster: Cluster) -> str | None:
    """Patroni streams each standby from a slot of its own on the primary (config/patroni.yml sets use_slots), and
    a standby whose slot the primary cannot make does not stream at all."""
    need = cluster.standbys + BASE_BACKUP_SLOTS
    return _too_few(
        value,
        need,
        f"replication slots cannot hold one for each of the {cluster.standbys} standbys of pgha:postgresNodes = "
        f"{cluster.nodes} and the temporary one of a base backup",
    )


# Each parameter's check: what its value risks in the cluster, or None when it is safe there.
CHECKS: dict[str, Callable[[str, Cluster], str | None]] = {
    **{name: _switch(name) for name in SWITCH_RISKS},
    "synchronous_commit": _synchronous_commit,
    "max_wal_senders": _max_wal_senders,
    "max_replication_slots": _max_replication_slots,
}


def unsafe_parameters(parameters: Mapping[str, str], cluster: Cluster) -> list[str]:
    """`name='value' is unsafe: why`, one line per parameter that can lose acknowledged commits or corrupt data on
    a crash. Names are case-insensitive, as PostgreSQL's (and Patroni's) are."""
    checks = ((name, value, CHECKS.get(name.strip().lower())) for name, value in sorted(parameters.items()))
    found = ((name, value, check(value, cluster)) for name, value, check in checks if check)
    return [f"{name}={value!r} is unsafe: {risk}" for name, value, risk in found if risk]
