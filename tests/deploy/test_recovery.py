"""The disaster-recovery drills on the session's stack (pgha/ops/backups/recovery.py): a point-in-time restore into a new
stack, a replica rebuilt from the repository, and the whole stack lost and deployed again from its backups.
lose-cluster destroys the session's stack and brings it back: it runs last (this module is the last one)."""

import subprocess
import time
import uuid

import pytest

from pgha.actions import backups as pgbackrest
from pgha.ops.backups import backups, recovery
from pgha.ops.drills import drill

HEALTHY_S = 120
SCHEDULE_DEADLINE_S = 180  # the schedule's interval (2 minutes) and its poll
# The archive's loss after a sudden loss of every node: the commits of the last archive_timeout seconds at most,
# and the asynchronous push of the last full segment (well under a second here).
PUSH_SLACK_S = 3.0


def show(capsys, trial: recovery.Recovery) -> None:
    with capsys.disabled():
        print(
            f"\n{trial.scenario}: restored in {trial.restore_s} s, {trial.database_mb} MB, acked before target "
            f"{trial.acked_before_target}, missing {trial.missing_before_target}, after target present "
            f"{trial.present_after_target}, lost {trial.lost_acked} in {trial.lost_window_s} s "
            f"(archive_timeout {trial.archive_timeout_s} s), replica built by {trial.created_by or '-'}",
            flush=True,
        )


@pytest.fixture
def healthy(deployed):
    _, t = deployed
    drill.wait_healthy(t, HEALTHY_S)
    return t


def test_the_schedule_took_an_incremental_backup_on_its_own(healthy):
    """The test stack's schedule is an incremental every 2 minutes; this module runs minutes after the deploy."""
    deadline, log = time.monotonic() + SCHEDULE_DEADLINE_S, ""
    while time.monotonic() < deadline and "incr backup done" not in log:
        log = subprocess.run(
            ["docker", "logs", pgbackrest.repository_host(healthy.stack)], capture_output=True, text=True, timeout=120
        ).stdout
        time.sleep(2)
    assert "incr backup done" in log, log[-2000:]
    assert "incr" in {b["type"] for b in backups.newest(backups.listing(healthy.stack, None))["backup"]}


def test_pitr_restores_every_row_acknowledged_before_the_target_and_none_after(healthy, capsys):
    trial = recovery.pitr(healthy, 1)
    show(capsys, trial)
    assert trial.acked_before_target > 0
    assert trial.missing_before_target == 0
    assert trial.present_after_target == 0
    assert trial.notes and "commits asked for after it" in trial.notes[0]


def test_a_restore_to_a_named_restore_point_stops_there(healthy):
    """The third kind of target: rows written before `pg_create_restore_point` are restored, rows after are not.
    pgBackRest restores a name from the newest backup: one taken now, before the point, also holds off the
    schedule's next one (due 2 minutes after the newest)."""
    backups.backup(healthy.stack, "incr")
    leader = pgbackrest.running_leader(healthy.patroni_apis)
    name = f"before-{uuid.uuid4().hex[:6]}"
    healthy.psql(leader, "CREATE TABLE IF NOT EXISTS restore_point_marks (n int)")
    healthy.psql(leader, "INSERT INTO restore_point_marks VALUES (1)")
    healthy.psql(leader, f"SELECT pg_create_restore_point('{name}')")
    healthy.psql(leader, "INSERT INTO restore_point_marks VALUES (2)")
    pgbackrest.check(healthy.stack)  # the restore point's WAL is in the archive
    found = {}

    def read(restored):
        found["rows"] = restored.psql(
            pgbackrest.running_leader(restored.patroni_apis),
            "SELECT string_agg(n::text, ',' ORDER BY n) FROM restore_point_marks",
        )

    recovery.restore_into_new_stack(healthy, name, read)
    assert found["rows"] == "1"


def test_a_replica_that_lost_its_disk_comes_back_from_the_repository(healthy, capsys):
    trial = recovery.lose_replica_disk(healthy, 1)
    show(capsys, trial)
    assert trial.created_by == "pgbackrest"
    assert trial.lost_acked == 0
    assert not any(not w["ok"] for w in trial.writes), "losing a replica failed a commit"


def test_a_lost_cluster_comes_back_from_its_repository_losing_at_most_archive_timeout(healthy, capsys):
    trial = recovery.lose_cluster(healthy, 1)
    show(capsys, trial)
    assert trial.archive_timeout_s == 10
    assert trial.lost_window_s is not None
    assert trial.lost_window_s <= trial.archive_timeout_s + PUSH_SLACK_S
    assert sum(1 for w in trial.writes if w["ok"]) > trial.lost_acked, "every acknowledged commit was lost"
