"""Integrity after faults: data checksums on, no corruption that pg_amcheck can find, and the drill table
holding the same rows on every member.

Each member is read inside its own container (`docker exec`, the local superuser), so a replica is checked
as it is, not through a router. Meant for a quiet drill table: rows written during a check may show as a
difference.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import time
from dataclasses import dataclass

from pgha.clients import patroni_api
from pgha.ops import status
from pgha.ops.drills.probe import PROBE_TABLE
from pgha.ops.target import Target

# --heapallindexed: every heap tuple an index should hold is in it; --checkunique: no unique index has two
# visible entries for one key. No --parent-check: it takes a ShareLock, which a hot standby refuses.
AMCHECK = ("pg_amcheck", "--all", "--heapallindexed", "--checkunique")
AMCHECK_TIMEOUT_S = 300
# pg_amcheck prints each finding as a header naming the relation, then the detail indented (stdout); it
# exits 2 when it found corruption, 1 when it could not check. A database without amcheck is only a
# warning (stderr) that leaves the exit code alone, so it is looked for too.
REPORTED = re.compile(r'^(heap table|btree index) "([^"]+)"(.*):$')
SKIPPED = re.compile(r'skipping database "([^"]+)": amcheck is not installed')
# Rows in a fixed order, times as epoch numbers: the same text on every member whatever its TimeZone.
DIGEST = (
    f"SELECT count(*), coalesce(md5(string_agg(run || '/' || seq || '/' || extract(epoch FROM at), ',' "
    f"ORDER BY run, seq)), '') FROM {PROBE_TABLE}"
)
REPLAYED = "SELECT coalesce(pg_last_wal_replay_lsn(), '0/0')"


@dataclass(frozen=True)
class TableDigest:
    rows: int
    md5: str

    def __str__(self) -> str:
        return f"{self.rows} rows, md5 {self.md5[:12]}"


def amcheck_findings(returncode: int, stdout: str, stderr: str) -> list[str]:
    """What one pg_amcheck run found wrong, one line each; empty when it checked everything and found nothing."""
    lines, found = stdout.splitlines(), []
    for header, detail in itertools.pairwise([*lines, ""]):
        reported = REPORTED.match(header)
        if reported:
            kind, relation, where = reported.groups()
            detail = detail.strip() if detail.startswith(" ") else ""
            found.append(f"{kind} {relation}{where}" + (f": {detail}" if detail else ""))
    found += [f"database {name} not checked: amcheck is not installed there" for name in SKIPPED.findall(stderr)]
    if returncode == 2 and not found:
        found.append("pg_amcheck reported corruption: " + (lines or ["(no detail)"])[-1])
    if returncode not in (0, 2):
        found.append(f"pg_amcheck could not check (exit {returncode}): " + (stderr.strip().splitlines() or [""])[-1])
    return found


def checksum_problems(shown: dict[str, str]) -> list[str]:
    return [
        f"{member}: data_checksums is {value!r}, not 'on'" for member, value in sorted(shown.items()) if value != "on"
    ]


def digest_differences(primary: str, digests: dict[str, TableDigest | None]) -> list[str]:
    """Members whose drill table differs from the primary's, one line each."""
    show = lambda d: str(d) if d else "absent"  # noqa: E731
    return [
        f"{member}: {PROBE_TABLE} has {show(d)}, the primary {primary} {show(digests[primary])}"
        for member, d in sorted(digests.items())
        if d != digests[primary]
    ]


def parse_lsn(text: str) -> int:
    """A WAL position as PostgreSQL prints it ('16/B374D848': two hex halves) as one comparable number."""
    high, low = text.strip().split("/")
    return (int(high, 16) << 32) | int(low, 16)


def members(target: Target) -> tuple[str, list[str]]:
    """(the primary, every member) as Patroni lists them."""
    listed = patroni_api.cluster(target.patroni_apis)["members"]
    primary = next((m["name"] for m in listed if m["role"] == "leader"), None)
    if primary is None:
        raise RuntimeError("no leader: integrity is checked on a cluster that has a primary")
    return primary, sorted(m["name"] for m in listed)


def data_checksums(target: Target, names: list[str]) -> dict[str, str]:
    return {name: target.psql(name, "SHOW data_checksums") for name in names}


def ensure_amcheck(target: Target, primary: str) -> None:
    """amcheck in every connectable database (template1 included, so new databases have it), created on the
    primary: a hot standby cannot create an extension and receives it by replication."""
    for database in target.psql(primary, "SELECT datname FROM pg_database WHERE datallowconn").splitlines():
        target.psql(primary, "CREATE EXTENSION IF NOT EXISTS amcheck", database)


def wait_replayed(target: Target, primary: str, replicas: list[str], deadline_s: float) -> float:
    """Seconds until every replica has replayed the WAL the primary has flushed by now; raises TimeoutError
    naming the replicas still behind."""
    goal = target.psql(primary, "SELECT pg_current_wal_flush_lsn()")
    start, behind = time.monotonic(), dict.fromkeys(replicas, "not asked yet")
    while time.monotonic() - start < deadline_s:
        replayed = {name: target.psql(name, REPLAYED) for name in behind}
        behind = {name: lsn for name, lsn in replayed.items() if parse_lsn(lsn) < parse_lsn(goal)}
        if not behind:
            return round(time.monotonic() - start, 2)
        time.sleep(0.5)
    raise TimeoutError(
        f"replicas had not replayed the primary's WAL up to {goal} after {deadline_s:.0f}s: "
        + ", ".join(f"{name} at {lsn}" for name, lsn in behind.items())
    )


def table_digest(target: Target, member: str) -> TableDigest | None:
    """Row count and md5 of the drill table's ordered rows; None when the table does not exist."""
    if target.psql(member, f"SELECT to_regclass('{PROBE_TABLE}') IS NOT NULL") != "t":
        return None
    rows, md5 = target.psql(member, DIGEST).split("|")
    return TableDigest(int(rows), md5)


def amcheck(target: Target, member: str) -> list[str]:
    """pg_amcheck over every database of one member; what it found wrong (empty: nothing)."""
    result = subprocess.run(
        [*target.place(member).exec_argv(), *AMCHECK],
        capture_output=True,
        text=True,
        timeout=AMCHECK_TIMEOUT_S,
    )
    return amcheck_findings(result.returncode, result.stdout, result.stderr)


@dataclass
class Findings:
    primary: str
    checksums: dict[str, str]  # member -> SHOW data_checksums
    digests: dict[str, TableDigest | None]  # member -> its drill table
    amcheck: dict[str, list[str]]  # member -> what pg_amcheck found wrong
    replayed_s: float  # how long the replicas took to replay the primary's WAL before the comparison

    def problems(self) -> list[str]:
        found = checksum_problems(self.checksums) + digest_differences(self.primary, self.digests)
        return found + [f"{member}: {line}" for member, lines in sorted(self.amcheck.items()) for line in lines]

    def table(self) -> str:
        rows = [("member", "role", "data_checksums", PROBE_TABLE, "pg_amcheck")]
        for name in sorted(self.checksums):
            found = self.amcheck[name]
            rows.append(
                (
                    name,
                    "primary" if name == self.primary else "replica",
                    self.checksums[name],
                    str(self.digests[name] or "absent"),
                    f"{len(found)} problems" if found else "clean",
                )
            )
        return status.aligned(rows) + f"\nreplicas replayed the primary's WAL in {self.replayed_s} s"


def check(target: Target, replay_deadline_s: float = 60.0) -> Findings:
    """Every check on every member, after the replicas have replayed what the primary had written."""
    primary, names = members(target)
    ensure_amcheck(target, primary)
    replayed_s = wait_replayed(target, primary, [n for n in names if n != primary], replay_deadline_s)
    return Findings(
        primary=primary,
        checksums=data_checksums(target, names),
        digests={name: table_digest(target, name) for name in names},
        amcheck={name: amcheck(target, name) for name in names},
        replayed_s=replayed_s,
    )
