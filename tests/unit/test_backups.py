"""What pgha reads out of `pgbackrest info --output=json`, without Docker (the shapes are pgBackRest 2.55's)."""

from datetime import UTC, datetime

from pgha.model import repository
from pgha.ops.backups import backups

FULL = {
    "label": "20261126-203328F",
    "type": "full",
    "timestamp": {"start": 1795724008, "stop": 1795724010},
    "info": {"size": 31037440, "repository": {"delta": 6081740}},
    "archive": {"start": "000000010000000000000006", "stop": "000000010000000000000006"},
}
INFO = {
    "name": "pgha-dev",
    "status": {"code": 0, "message": "ok"},
    "backup": [FULL],
    "archive": [{"id": "17-1", "min": "000000010000000000000001", "max": "00000001000000000000000B"}],
}


def test_a_stanza_with_a_backup_can_be_restored():
    assert repository.backup_problem(INFO) is None
    assert repository.first_backup_end(INFO) == datetime.fromtimestamp(1795724010, UTC)


def test_a_stanza_without_backup_cannot():
    empty = {"status": {"code": 2, "message": "no valid backups"}, "backup": []}
    assert repository.backup_problem(empty) == "it holds no backup yet"


def test_a_wrong_key_shows_as_an_unreadable_info_file_and_names_the_key():
    wrong = {
        "status": {"code": 99, "message": "other"},
        "backup": [],
        "repo": [
            {
                "status": {
                    "code": 99,
                    "message": "[FormatError] unable to load info file '/r/backup.info' or '/r/backup.info.copy':\n...",
                }
            }
        ],
    }
    assert repository.backup_problem(wrong) == (
        "[FormatError] unable to load info file '/r/backup.info'; is pgha:backupCipherPass the key of that repository?"
    )


def test_the_table_lists_each_backup_and_the_archive_range():
    lines = backups.table(INFO).splitlines()
    assert lines[2] == (
        "| 20261126-203328F | full | 2026-11-26 20:13:28+00 | 2026-11-26 20:13:30+00 | 29.6 MiB | 5.8 MiB "
        "| 000000010000000000000006 | 000000010000000000000006 |"
    )
    assert lines[-1] == "archive 17-1: WAL 000000010000000000000001 to 00000001000000000000000B"


def test_a_new_stack_over_the_repository_an_earlier_one_left_is_told_to_restore_or_drop(monkeypatch):
    monkeypatch.setattr(repository, "exists", lambda stack: stack != "fresh")
    assert repository.earlier_cluster_problems("fresh", "key") == []
    monkeypatch.setattr(repository, "read_info", lambda stack, key: INFO)
    (problem,) = repository.earlier_cluster_problems("dev", "key")
    assert problem.startswith("pgha:restoreFrom: stack 'dev' is new, but its repository (volume pgha-dev-backups")
    assert "make drop-backups STACK=dev" in problem

    def empty(stack, key):
        raise RuntimeError("no stanza pgha-dev in it")

    monkeypatch.setattr(repository, "read_info", empty)
    assert repository.earlier_cluster_problems("dev", "key") == []
