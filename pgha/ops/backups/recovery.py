"""Disaster-recovery drills: what the stack's pgBackRest backups and WAL archive bring back, measured from the
client's side like the failover drills (pgha/ops/drills/drill.py), in the same report.

- pitr: a writer commits numbered rows; the drill notes a time T, the writer goes on, then the table is dropped.
  A new stack restored to T must hold every row acknowledged before T, and none of those asked for after T.
- lose-replica-disk: a replica's container and data volume are removed; `pulumi up --refresh` creates them again,
  and Patroni builds the replica from the repository (create_replica_methods), not from the primary.
- lose-cluster: every node is killed at once while the writer commits (a graceful `pulumi destroy` loses
  nothing: PostgreSQL archives its last WAL when it shuts down), then the stack is destroyed and deployed again
  from its own repository (the latest point the archive holds). The acknowledged commits missing are the
  archive's loss: at most the last pgha:archiveTimeout seconds of them. The writer runs longer than that first.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pgha import names
from pgha.actions import backups as pgbackrest
from pgha.actions import deploys
from pgha.clients import docker_api, patroni_api
from pgha.model import host, repository
from pgha.model.settings import PORT_KEYS
from pgha.ops.backups import backups as backup_verbs
from pgha.ops.drills import drill, probe, timeline
from pgha.ops.drills.faults import Refused
from pgha.ops.target import Target, from_pulumi

WRITE_BEFORE_S = 3.0  # the writer's commits before T (pitr) or before the loss
WRITE_AFTER_S = 2.0  # and after T, before the damage
RESTORED_NODES = "3"


@dataclass
class Recovery:
    scenario: str
    trial: int
    restore_s: float | None = None  # from the start of the recovery to a healthy stack
    database_mb: float | None = None  # the restored app database
    acked_before_target: int = 0
    missing_before_target: int = 0  # acknowledged before T, not in the restore: must be 0
    present_after_target: int = 0  # asked for after T, in the restore: must be 0
    lost_acked: int = 0
    lost_window_s: float | None = None  # lose-cluster: from the first lost commit to the last acknowledged one
    archive_timeout_s: int | None = None
    created_by: str = ""  # lose-replica-disk: how Patroni built the replica
    split_brain: bool = False
    rto_s: float | None = None
    read_outage_s: float | None = None
    write_gap_s: float | None = None
    notes: list = field(default_factory=list)
    writes: list = field(default_factory=list)
    reads: list = field(default_factory=list)
    fault_at: float = 0.0


def _writer(target: Target, run: str) -> probe.Probe:
    probe.ensure_table(target)
    members = patroni_api.cluster(target.patroni_apis)["members"]
    writer = probe.Probe(target, target.rw_endpoints, probe.writer(run), {m["host"]: m["name"] for m in members})
    writer.start()
    return writer


def _rows(target: Target, run: str) -> set[int]:
    """The run's rows on the primary."""
    return drill.rows_on(target, pgbackrest.running_leader(target.patroni_apis), run)


def _database_mb(target: Target) -> float:
    leader = pgbackrest.running_leader(target.patroni_apis)
    return round(int(target.psql(leader, f"SELECT pg_database_size('{target.database}')")) / 2**20, 1)


def _restored_stack_config(source: Target, restore_target: str) -> dict[str, str]:
    ports = dict(zip(PORT_KEYS, host.free_ports(len(PORT_KEYS)), strict=True))
    return {f"pgha:{k}": str(v) for k, v in ports.items()} | {
        "pgha:restoreFrom": source.stack,
        "pgha:restoreTarget": restore_target,
        "pgha:postgresNodes": RESTORED_NODES,
        "pgha:haproxyNodes": "1",
    }


def restore_into_new_stack(source: Target, restore_target: str, check: Callable[[Target], None]) -> float:
    """Deploys a stack of the drill's own from `source`'s backups, runs `check` on it, removes it and its
    repository; returns the seconds from `pulumi up` to a healthy stack."""
    name = f"{source.stack[:22]}-r{uuid.uuid4().hex[:4]}"
    with tempfile.TemporaryDirectory() as scratch:
        config = deploys.new_stack(
            name,
            _restored_stack_config(source, restore_target),
            deploys.backup_key(source.stack),
            Path(scratch) / f"Pulumi.{name}.yaml",
        )
        try:
            start = time.monotonic()
            deploys.up(name, config)
            restored = from_pulumi(name)
            drill.wait_healthy(restored, drill.CONVERGE_S)
            took = round(time.monotonic() - start, 2)
            check(restored)
        finally:
            deploys.remove_stack(name, config)
            if repository.exists(name):  # not when `pulumi up` failed before creating it
                backup_verbs.drop(name)
    return took


def pitr(source: Target, number: int) -> Recovery:
    run = f"pitr-{number}-{uuid.uuid4().hex[:6]}"
    trial = Recovery("pitr", number)
    writer = _writer(source, run)
    try:
        time.sleep(WRITE_BEFORE_S)
        trial.fault_at, at = time.monotonic(), datetime.now(UTC)
        time.sleep(WRITE_AFTER_S)
    finally:
        writer.stop()
    leader = pgbackrest.running_leader(source.patroni_apis)
    source.psql(leader, f"DROP TABLE {probe.PROBE_TABLE}")  # the damage
    # `pgbackrest check` switches to a new WAL segment and waits until it is archived: T is in the archive.
    pgbackrest.check(source.stack)
    probe.ensure_table(source)
    before = {a.seq for a in writer.attempts if a.ok and a.end < trial.fault_at}
    after = {a.seq for a in writer.attempts if a.start > trial.fault_at}
    if not before:
        errors = [a.error for a in writer.attempts if not a.ok]
        raise RuntimeError(f"pitr: the writer committed nothing before the target ({errors[:1] or 'no attempt'})")

    def check(restored: Target) -> None:
        rows = _rows(restored, run)
        trial.acked_before_target = len(before)
        trial.missing_before_target = len(before - rows)
        trial.present_after_target = len(after & rows)
        trial.database_mb = _database_mb(restored)

    trial.restore_s = restore_into_new_stack(source, at.isoformat(), check)
    trial.notes.append(f"target {at.isoformat()}; {len(after)} commits asked for after it")
    return _with_writes(trial, writer)


def lose_replica_disk(target: Target, number: int) -> Recovery:
    run = f"lose-replica-disk-{number}-{uuid.uuid4().hex[:6]}"
    trial = Recovery("lose-replica-disk", number)
    members = patroni_api.cluster(target.patroni_apis)["members"]
    replica = next(m["name"] for m in members if m["role"] != "leader")
    container = names.container(target.stack, replica)
    writer = _writer(target, run)
    try:
        time.sleep(WRITE_BEFORE_S)
        trial.fault_at = time.monotonic()
        docker_api.client().containers.get(container).remove(force=True)
        docker_api.client().volumes.get(f"{container}-data").remove()
        deploys.up(target.stack, deploys.config_file(target.stack), refresh=True)
        drill.wait_healthy(target, drill.CONVERGE_S)
        trial.restore_s = round(time.monotonic() - trial.fault_at, 2)
    finally:
        writer.stop()
    trial.created_by = _replica_created_by(container)
    acked = [a.seq for a in writer.attempts if a.ok]
    present = {
        m["name"]: drill.rows_on(target, m["name"], run) for m in patroni_api.cluster(target.patroni_apis)["members"]
    }
    trial.lost_acked = len(set().union(*timeline.lost_acknowledged(acked, present).values()))
    return _with_writes(trial, writer)


def _replica_created_by(container: str) -> str:
    """From Patroni's log: which of create_replica_methods built the member."""
    done = subprocess.run(["docker", "logs", container], capture_output=True, text=True, timeout=60)
    logs = done.stdout + done.stderr
    methods = [m for m in ("pgbackrest", "basebackup") if f"replica has been created using {m}" in logs]
    return methods[0] if methods else "unknown"


def lose_cluster(target: Target, number: int) -> Recovery:
    run = f"lose-cluster-{number}-{uuid.uuid4().hex[:6]}"
    parameters = patroni_api.dynamic_config(target.patroni_apis)["postgresql"]["parameters"]
    archive_timeout_s = int(parameters["archive_timeout"])
    trial = Recovery("lose-cluster", number, archive_timeout_s=archive_timeout_s)
    own = deploys.config_file(target.stack)
    writer = _writer(target, run)
    try:
        time.sleep(archive_timeout_s + WRITE_BEFORE_S)
        trial.fault_at = time.monotonic()
        # Looked up first, then the low-level calls: one request per node, so the kills land together.
        for place in [target.place(name) for name in target.containers("postgres")]:
            place.api.kill(place.container)
        deploys.destroy(target.stack, own)
    finally:
        writer.stop()
    with tempfile.TemporaryDirectory() as scratch:
        restore = Path(scratch) / own.name
        deploys.with_changes(own, restore, {"pgha:restoreFrom": target.stack, "pgha:restoreTarget": "latest"})
        start = time.monotonic()
        deploys.up(target.stack, restore)
        restored = from_pulumi(target.stack)
        drill.wait_healthy(restored, drill.CONVERGE_S)
        trial.restore_s = round(time.monotonic() - start, 2)
    acked = {a.seq: a.end for a in writer.attempts if a.ok}
    lost = set(acked) - _rows(restored, run)
    trial.lost_acked = len(lost)
    trial.lost_window_s = round(max(acked.values()) - min(acked[s] for s in lost), 2) if lost else 0.0
    trial.database_mb = _database_mb(restored)
    # Its usual configuration again: the restore settings acted at bootstrap only, nothing is replaced.
    deploys.up(target.stack, own)
    return _with_writes(trial, writer)


def _with_writes(trial: Recovery, writer: probe.Probe) -> Recovery:
    trial.writes = [drill.relative(a, trial.fault_at) for a in writer.attempts]
    trial.split_brain = timeline.split_brain(writer.attempts)
    return trial


SCENARIOS: dict[str, tuple[Callable[[Target, int], Recovery], str]] = {
    "pitr": (pitr, "every row acknowledged before T restored, none asked for after it"),
    "lose-replica-disk": (lose_replica_disk, "the replica rebuilt from the repository; writes go on"),
    "lose-cluster": (lose_cluster, "the stack back from its repository; loses at most archiveTimeout of commits"),
}


def run_trials(target: Target, scenarios: list[str], trials: int) -> dict[str, list[dict]]:
    if scenarios and target.is_swarm:
        raise Refused(
            f"{', '.join(scenarios)}: not run on Swarm stacks: they remove and restore containers, volumes and the "
            f"pgBackRest repository on this machine's engine"
        )
    results: dict[str, list[dict]] = {}
    for name in scenarios:
        for number in range(1, trials + 1):
            found = SCENARIOS[name][0](target, number)
            target = from_pulumi(target.stack)  # lose-cluster deploys the stack anew, with new passwords
            print(
                f"{name} #{number}: restored in {found.restore_s}s, {found.database_mb} MB, missing before target "
                f"{found.missing_before_target}, after target {found.present_after_target}, lost {found.lost_acked}",
                flush=True,
            )
            results.setdefault(name, []).append(found.__dict__)
    return results
