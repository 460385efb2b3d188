"""What pgha reads out of `pgbackrest info --output=json`, without Docker (the shapes are pgBackRest 2.55's)."""

from datetime import UTC, datetime

from pgha.model import repository
from pgha.model.settings import parse
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


def test_the_table_lists_each_cluster_newest_first_with_its_backups_and_archive_range():
    earlier = INFO | {"backup": [], "archive": []}
    lines = backups.table({1: earlier, 2: INFO | {"name": "pgha-dev-2"}}).splitlines()
    assert lines[0] == "cluster 2 (stanza pgha-dev-2)"
    assert lines[3] == (
        "| 20261126-203328F | full | 2026-11-26 20:13:28+00 | 2026-11-26 20:13:30+00 | 29.6 MiB | 5.8 MiB "
        "| 000000010000000000000006 | 000000010000000000000006 |"
    )
    assert lines[4] == "archive 17-1: WAL 000000010000000000000001 to 00000001000000000000000B"
    assert lines[6] == "cluster 1 (stanza pgha-dev)"


def test_a_repository_listing_is_read_as_the_stacks_clusters_by_number():
    listed: list[dict] = [INFO | {"name": "pgha-dev-3"}, INFO, {"name": "pgha-devx"}, INFO | {"name": "pgha-dev-2"}]
    assert list(repository.by_cluster("dev", listed)) == [1, 2, 3]
    assert backups.newest(repository.by_cluster("dev", listed))["name"] == "pgha-dev-3"


def _stanzas(repositories: dict[str, dict[int, dict]]):
    return lambda stack, key: repositories[stack]


def test_a_new_stack_is_the_first_cluster_where_no_repository_is_left(monkeypatch):
    monkeypatch.setattr(repository, "exists", lambda stack: False)
    settings, problems = repository.new_cluster(parse("dev", {}), "key")
    assert (settings.cluster, settings.stanza, problems) == (1, "pgha-dev", [])


def test_a_stack_deployed_again_over_its_kept_repository_starts_the_next_cluster(monkeypatch):
    monkeypatch.setattr(repository, "exists", lambda stack: True)
    monkeypatch.setattr(repository, "read_stanzas", _stanzas({"dev": {1: INFO, 2: INFO | {"name": "pgha-dev-2"}}}))
    settings, problems = repository.new_cluster(parse("dev", {}), "key")
    assert (settings.cluster, settings.stanza, problems) == (3, "pgha-dev-3", [])


def test_a_repository_the_key_cannot_read_is_refused_and_named(monkeypatch):
    unreadable = {"name": "pgha-dev", "status": {"code": 99, "message": "other"}, "backup": [], "repo": []}
    monkeypatch.setattr(repository, "exists", lambda stack: True)
    monkeypatch.setattr(repository, "read_stanzas", _stanzas({"dev": {1: unreadable}}))
    _, (problem,) = repository.new_cluster(parse("dev", {}), "key")
    assert problem.startswith("pgha:backupCipherPass: the repository of stack 'dev' (volume pgha-dev-backups")
    assert "make drop-backups STACK=dev" in problem


def test_a_restore_takes_the_newest_cluster_with_a_backup_or_the_one_named(monkeypatch):
    empty = INFO | {"name": "pgha-old-2", "status": {"code": 2, "message": "no valid backups"}, "backup": []}
    monkeypatch.setattr(repository, "exists", lambda stack: stack == "old")
    monkeypatch.setattr(repository, "read_stanzas", _stanzas({"old": {1: INFO | {"name": "pgha-old"}, 2: empty}}))
    settings, problems = repository.new_cluster(parse("new", {"restoreFrom": "old"}), "key")
    assert (settings.cluster, settings.restore_stanza, problems) == (1, "pgha-old", [])
    _, (problem,) = repository.new_cluster(parse("new", {"restoreFrom": "old", "restoreCluster": "2"}), "key")
    assert problem == "pgha:restoreFrom: nothing to restore in cluster 2 of stack 'old': it holds no backup yet"
    _, (problem,) = repository.new_cluster(parse("new", {"restoreFrom": "old", "restoreCluster": "5"}), "key")
    assert problem == "pgha:restoreCluster: stack 'old' had no cluster 5 (its repository holds: 1, 2)"


def test_a_stack_restored_from_its_own_repository_continues_the_cluster_it_restores(monkeypatch):
    monkeypatch.setattr(repository, "exists", lambda stack: True)
    monkeypatch.setattr(repository, "read_stanzas", _stanzas({"dev": {1: INFO, 2: INFO | {"name": "pgha-dev-2"}}}))
    settings, problems = repository.new_cluster(parse("dev", {"restoreFrom": "dev", "restoreCluster": "1"}), "key")
    assert (settings.stanza, settings.restore_stanza, problems) == ("pgha-dev", "pgha-dev", [])


def test_a_running_stack_keeps_the_cluster_its_repository_host_names():
    settings = repository.running_cluster(parse("dev", {"restoreFrom": "old"}), ("pgha-dev-4", "pgha-old-2"))
    assert (settings.stanza, settings.restore_stanza) == ("pgha-dev-4", "pgha-old-2")
    assert repository.running_cluster(parse("dev", {}), (None, None)).stanza == "pgha-dev"
