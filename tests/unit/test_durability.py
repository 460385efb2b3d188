"""PostgreSQL parameters that can lose acknowledged commits or corrupt data on a crash: refused by the settings unless
pgha:allowUnsafeParameters is true, then warned of one line each."""

import json

import pytest
import yaml

from pgha.model import postgres_check, render
from pgha.model.durability import Cluster, unsafe_parameters
from pgha.model.layout import Layout
from pgha.model.settings import MAX_POSTGRES_NODES, SettingsError, parse, unsafe_parameter_warnings

ALLOW = "set pgha:allowUnsafeParameters true to take that risk"
OFF_SPELLINGS = [
    "off",
    "OFF",
    "Off",
    "of",
    "false",
    "FALSE",
    "f",
    "fa",
    "no",
    "No",
    "n",
    "0",
    "'off'",
    '"off"',
    " off ",
]
ON_SPELLINGS = ["on", "ON", "true", "True", "t", "tr", "yes", "y", "1", "'on'", '"ON"']


def settings(parameters, **raw):
    return parse("dev", {"postgresParameters": json.dumps(parameters), **{k: str(v) for k, v in raw.items()}})


def problems_for(parameters, **raw):
    with pytest.raises(SettingsError) as info:
        settings(parameters, **raw)
    return info.value.problems


@pytest.mark.parametrize(
    "name, value, why",
    [
        (
            "fsync",
            "off",
            "PostgreSQL no longer waits for its writes to reach the disk, so a crash of the host can lose acknowledged "
            "commits and corrupt the data files",
        ),
        (
            "full_page_writes",
            "off",
            "a page that a crash leaves half written cannot be repaired from the WAL, so the data files can be corrupt "
            "after a crash; pg_rewind, which brings a failed primary back, needs it on too",
        ),
        (
            "data_sync_retry",
            "on",
            "after a failed fsync PostgreSQL carries on instead of stopping, although Linux may have dropped the data "
            "it could not write, so the data files can be silently corrupt",
        ),
        (
            "synchronous_commit",
            "off",
            "a commit is acknowledged before its WAL reaches the disk, so a crash can lose acknowledged commits",
        ),
        (
            "synchronous_commit",
            "local",
            "a commit is acknowledged before a standby has it, although pgha:synchronousMode is quorum, so a "
            "failover can lose acknowledged commits",
        ),
        (
            "max_wal_senders",
            "3",
            "3 WAL senders cannot serve the 2 standbys of pgha:postgresNodes = 3 and the 2 a base backup opens; a "
            "standby left without one receives no new commits, which a lost primary then takes with it; expected at "
            "least 4",
        ),
        (
            "max_replication_slots",
            "2",
            "2 replication slots cannot hold one for each of the 2 standbys of pgha:postgresNodes = 3 and the "
            "temporary one of a base backup; a standby left without one receives no new commits, which a lost "
            "primary then takes with it; expected at least 3",
        ),
    ],
)
def test_each_unsafe_parameter_is_refused_with_what_it_risks(name, value, why):
    assert problems_for({name: value}) == [f"pgha:postgresParameters: {name}={value!r} is unsafe: {why}; {ALLOW}"]


@pytest.mark.parametrize("name", ["fsync", "full_page_writes", "synchronous_commit"])
@pytest.mark.parametrize("value", OFF_SPELLINGS)
def test_every_spelling_of_off_is_off(name, value):
    (problem,) = problems_for({name: value})
    assert problem.startswith(f"pgha:postgresParameters: {name}={value!r} is unsafe: ")


@pytest.mark.parametrize("name", ["fsync", "full_page_writes"])
def test_a_yaml_false_is_off(name):
    """Pulumi hands `fsync: false` over as JSON false, which the settings spell `off`."""
    (problem,) = problems_for({name: False})
    assert problem.startswith(f"pgha:postgresParameters: {name}='off' is unsafe: ")


@pytest.mark.parametrize("value", ON_SPELLINGS)
def test_every_spelling_of_on_turns_data_sync_retry_on(value):
    (problem,) = problems_for({"data_sync_retry": value})
    assert problem.startswith(f"pgha:postgresParameters: data_sync_retry={value!r} is unsafe: ")


def test_parameter_names_are_case_insensitive_as_postgresql_reads_them():
    (problem,) = problems_for({"FSync": "off"})
    assert problem.startswith("pgha:postgresParameters: FSync='off' is unsafe: ")


def test_every_unsafe_parameter_is_listed_at_once_with_the_other_problems():
    parameters = {"fsync": "off", "synchronous_commit": "off", "work_mem": "64MB"}
    problems = problems_for(parameters, ttl=20, loopWait=10, retryTimeout=6)
    assert problems[0].startswith("pgha:ttl: ")
    assert [p.split(" is unsafe")[0] for p in problems[1:]] == [
        "pgha:postgresParameters: fsync='off'",
        "pgha:postgresParameters: synchronous_commit='off'",
    ]


@pytest.mark.parametrize("mode", ["on", "quorum"])
def test_synchronous_commit_local_is_refused_where_commits_wait_for_a_standby(mode):
    (problem,) = problems_for({"synchronous_commit": "LOCAL"}, synchronousMode=mode)
    assert f"although pgha:synchronousMode is {mode}, " in problem


@pytest.mark.parametrize("raw", [{"synchronousMode": "off"}, {"synchronousMode": "quorum", "postgresNodes": 1}])
def test_synchronous_commit_local_is_on_when_no_commit_waits_for_a_standby(raw):
    assert settings({"synchronous_commit": "local"}, **raw).postgres_parameters


@pytest.mark.parametrize(
    "parameters",
    [
        {"fsync": "on", "full_page_writes": "true", "data_sync_retry": "off", "synchronous_commit": "on"},
        {"fsync": True, "full_page_writes": 1, "data_sync_retry": False},
        {"synchronous_commit": "remote_apply"},
        {"synchronous_commit": "remote_write"},
        {"wal_sync_method": "open_datasync"},
        {"max_wal_senders": "12", "max_replication_slots": "12"},
        {"work_mem": "64MB", "checkpoint_timeout": "15min"},
        # Not a value PostgreSQL takes: its own check refuses these, with its own message.
        {"fsync": "o", "full_page_writes": "", "max_wal_senders": "many"},
    ],
)
def test_safe_values_are_accepted(parameters):
    assert settings(parameters).postgres_parameters
    assert unsafe_parameter_warnings(settings(parameters, allowUnsafeParameters="true")) == []


@pytest.mark.parametrize("nodes", range(1, MAX_POSTGRES_NODES + 1))
def test_max_wal_senders_serves_every_standby_and_a_base_backup(nodes):
    need = nodes - 1 + 2
    assert settings({"max_wal_senders": need}, postgresNodes=nodes).postgres_parameters
    (problem,) = problems_for({"max_wal_senders": need - 1}, postgresNodes=nodes)
    assert f"; expected at least {need}; " in problem


@pytest.mark.parametrize("nodes", range(1, MAX_POSTGRES_NODES + 1))
def test_max_replication_slots_holds_every_standby_and_a_base_backup(nodes):
    assert settings({"max_replication_slots": nodes}, postgresNodes=nodes).postgres_parameters
    (problem,) = problems_for({"max_replication_slots": nodes - 1}, postgresNodes=nodes)
    assert f"; expected at least {nodes}; " in problem


@pytest.mark.parametrize(
    "value, read",
    [("3", 3), ("'3'", 3), (" 3 ", 3), ("0x3", 3), ("0X03", 3), ("03", 3), ("3.4", 3), ("2.5", 2), ("3e0", 3)],
)
def test_whole_numbers_below_the_need_are_read_as_postgresql_reads_them(value, read):
    """Three nodes need 4 WAL senders. PostgreSQL reads hexadecimal, octal, and decimals it rounds half to even."""
    (line,) = unsafe_parameters({"max_wal_senders": value}, Cluster("quorum", 3))
    assert line.startswith(f"max_wal_senders={value!r} is unsafe: {read} WAL senders ")


@pytest.mark.parametrize("value", ["4", "0x4", "04", "3.5", "4e0", "+4"])
def test_whole_numbers_that_meet_the_need_are_accepted(value):
    assert unsafe_parameters({"max_wal_senders": value}, Cluster("quorum", 3)) == []


def test_the_program_s_own_values_are_safe_for_the_largest_stack():
    """config/patroni.yml's replication settings, with slots on, serve every node pgha:postgresNodes allows."""
    layout = Layout(parse("dev", {"postgresNodes": str(MAX_POSTGRES_NODES)}))
    dcs = yaml.safe_load(render.patroni_config(layout, layout.postgres()[0]))["bootstrap"]["dcs"]["postgresql"]
    assert dcs["use_slots"] is True
    parameters = {name: str(value) for name, value in dcs["parameters"].items()}
    assert unsafe_parameters(parameters, Cluster("quorum", MAX_POSTGRES_NODES)) == []


def test_allowed_unsafe_parameters_are_accepted_and_each_warned_of():
    allowed = settings(
        {"fsync": "off", "max_wal_senders": "2", "work_mem": "64MB"}, allowUnsafeParameters="true", synchronousMode="on"
    )
    assert allowed.postgres_parameters == {"fsync": "off", "max_wal_senders": "2", "work_mem": "64MB"}
    assert unsafe_parameter_warnings(allowed) == [
        "pgha:postgresParameters: fsync='off' is unsafe: PostgreSQL no longer waits for its writes to reach the disk, "
        "so a crash of the host can lose acknowledged commits and corrupt the data files (allowed by "
        "pgha:allowUnsafeParameters)",
        "pgha:postgresParameters: max_wal_senders='2' is unsafe: 2 WAL senders cannot serve the 2 standbys of "
        "pgha:postgresNodes = 3 and the 2 a base backup opens; a standby left without one receives no new commits, "
        "which a lost primary then takes with it; expected at least 4 (allowed by pgha:allowUnsafeParameters)",
    ]


def test_nothing_is_warned_of_where_nothing_is_allowed():
    assert unsafe_parameter_warnings(settings({"work_mem": "64MB"})) == []
    assert unsafe_parameter_warnings(settings({"fsync": "on"}, allowUnsafeParameters="false")) == []


def test_allow_unsafe_parameters_is_true_or_false():
    (problem,) = problems_for({}, allowUnsafeParameters="yes")
    assert problem.startswith("pgha:allowUnsafeParameters: 'yes' is not allowed; expected true | false")


def test_wal_level_stays_patroni_s_even_where_unsafe_parameters_are_allowed():
    """Patroni sets wal_level (replica) itself: a stack's value is refused whatever allowUnsafeParameters says."""
    parameters = settings({"wal_level": "minimal"}, allowUnsafeParameters="true").postgres_parameters
    assert postgres_check.problems(parameters) == [
        "pgha:postgresParameters: wal_level is set by Patroni itself and cannot be overridden"
    ]
