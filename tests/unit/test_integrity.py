from typing import Any

from pgha.ops.drills.integrity import (
    Findings,
    TableDigest,
    amcheck_findings,
    checksum_problems,
    digest_differences,
    parse_lsn,
)

# What PostgreSQL 17's pg_amcheck printed here for a replica whose heap page was overwritten (checksums on),
# with amcheck dropped from one database: findings on stdout, a header then the detail indented; the
# skipped database only as a warning on stderr.
DAMAGE = (
    'btree index "postgres.public.pgha_probe_pkey":\n'
    "    ERROR:  invalid page in block 0 of relation base/5/16384\n"
    'heap table "postgres.public.pgha_probe":\n'
    "    ERROR:  invalid page in block 0 of relation base/5/16384\n"
)
WARNINGS = (
    'pg_amcheck: warning: skipping database "noext": amcheck is not installed\n'
    "WARNING:  page verification failed, calculated checksum 51486 but expected 57413\n"
)
HEAP_FINDING = (
    'heap table "app.public.pgha_probe", block 0, offset 3:\n'
    "    xmin 4294967295 equals or exceeds next valid transaction ID 0:765\n"
)


def test_a_clean_run_finds_nothing():
    assert amcheck_findings(0, "", "") == []


def test_each_damaged_relation_and_each_skipped_database_is_a_finding():
    assert amcheck_findings(2, DAMAGE, WARNINGS) == [
        "btree index postgres.public.pgha_probe_pkey: ERROR:  invalid page in block 0 of relation base/5/16384",
        "heap table postgres.public.pgha_probe: ERROR:  invalid page in block 0 of relation base/5/16384",
        "database noext not checked: amcheck is not installed there",
    ]


def test_a_heap_finding_names_its_block_and_offset():
    assert amcheck_findings(2, HEAP_FINDING, "") == [
        "heap table app.public.pgha_probe, block 0, offset 3: "
        "xmin 4294967295 equals or exceeds next valid transaction ID 0:765"
    ]


def test_a_skipped_database_is_a_finding_although_pg_amcheck_exits_zero():
    skipped = WARNINGS.splitlines()[0]
    assert amcheck_findings(0, "", skipped) == ["database noext not checked: amcheck is not installed there"]


def test_corruption_without_a_recognised_line_is_still_reported():
    assert amcheck_findings(2, "something new\n", "") == ["pg_amcheck reported corruption: something new"]


def test_a_run_that_could_not_check_says_why():
    stderr = "pg_amcheck: error: connection to server failed\n"
    assert amcheck_findings(1, "", stderr) == [
        "pg_amcheck could not check (exit 1): pg_amcheck: error: connection to server failed"
    ]


def test_checksums_must_be_on_everywhere():
    assert checksum_problems({"postgres-1": "on", "postgres-2": "on"}) == []
    off = {"postgres-1": "on", "postgres-2": "off"}
    assert checksum_problems(off) == ["postgres-2: data_checksums is 'off', not 'on'"]


def test_members_whose_table_differs_from_the_primary_are_named():
    same, short = TableDigest(120, "a" * 32), TableDigest(119, "b" * 32)
    assert digest_differences("postgres-1", {"postgres-1": same, "postgres-2": same}) == []
    assert digest_differences("postgres-1", {"postgres-1": same, "postgres-2": short, "postgres-3": None}) == [
        "postgres-2: pgha_probe has 119 rows, md5 bbbbbbbbbbbb, the primary postgres-1 120 rows, md5 aaaaaaaaaaaa",
        "postgres-3: pgha_probe has absent, the primary postgres-1 120 rows, md5 aaaaaaaaaaaa",
    ]


def test_a_table_absent_everywhere_is_no_difference():
    assert digest_differences("postgres-1", {"postgres-1": None, "postgres-2": None}) == []


def test_wal_positions_compare_as_numbers():
    assert parse_lsn("0/3000148") == 0x3000148
    assert parse_lsn("1/0") > parse_lsn("0/FFFFFFFF")
    assert parse_lsn("16/B374D848\n") == (0x16 << 32) + 0xB374D848


def findings(**changes):
    digest = TableDigest(10, "c" * 32)
    base: dict[str, Any] = {
        "primary": "postgres-1",
        "checksums": {"postgres-1": "on", "postgres-2": "on"},
        "digests": {"postgres-1": digest, "postgres-2": digest},
        "amcheck": {"postgres-1": [], "postgres-2": []},
        "replayed_s": 0.1,
    }
    return Findings(**(base | changes))


def test_findings_gather_every_kind_of_problem():
    assert findings().problems() == []
    broken = findings(
        checksums={"postgres-1": "on", "postgres-2": "off"},
        amcheck={"postgres-1": [], "postgres-2": ["btree index app.public.x: bad"]},
    )
    assert broken.problems() == [
        "postgres-2: data_checksums is 'off', not 'on'",
        "postgres-2: btree index app.public.x: bad",
    ]


def test_findings_table_has_a_row_per_member():
    lines = findings(amcheck={"postgres-1": [], "postgres-2": ["x", "y"]}).table().splitlines()
    assert lines[0].split() == ["member", "role", "data_checksums", "pgha_probe", "pg_amcheck"]
    assert lines[1].split()[:3] == ["postgres-1", "primary", "on"] and lines[1].endswith("clean")
    assert lines[2].split()[:2] == ["postgres-2", "replica"] and lines[2].endswith("2 problems")
    assert lines[3] == "replicas replayed the primary's WAL in 0.1 s"
