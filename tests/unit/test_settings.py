import pytest

from pgha.model.settings import (
    PORT_BLOCKS,
    PORT_KEYS,
    HostFacts,
    SettingsError,
    backup_key_problems,
    block_ports,
    chosen_ports,
    default_subnet,
    exposure_warning,
    host_problems,
    parse,
    password_problems,
    patroni_dynamic_config,
    with_ports,
)


def problems_for(raw, stack="dev"):
    with pytest.raises(SettingsError) as info:
        parse(stack, raw)
    return info.value.problems


def test_defaults_match_the_issue():
    s = parse("dev", {})
    assert (s.etcd_nodes, s.postgres_nodes, s.haproxy_nodes, s.synchronous_mode) == (3, 3, 2, "quorum")
    assert (s.bind_address, s.rw_port, s.ro_port, s.stats_port, s.patroni_port) == ("127.0.0.1", 5000, 5001, 7000, 8008)
    assert (s.ttl, s.loop_wait, s.retry_timeout) == (20, 2, 4)
    assert s.prefix == "pgha-dev"


def test_values_arrive_as_strings_and_are_parsed():
    s = parse("exp1", {"etcdNodes": "5", "postgresNodes": "7", "synchronousMode": "off", "rwPort": "6000"})
    assert (s.etcd_nodes, s.postgres_nodes, s.synchronous_mode, s.rw_port) == (5, 7, "off", 6000)


def test_patroni_api_ports_follow_the_node_index():
    s = parse("dev", {"postgresNodes": "3", "patroniPort": "9000"})
    assert [s.patroni_api_port(i) for i in (1, 2, 3)] == [9000, 9001, 9002]


@pytest.mark.parametrize(
    "raw, key, fragment",
    [
        ({"etcdNodes": "0"}, "etcdNodes", "odd whole number from 1 to 7"),
        ({"etcdNodes": "4"}, "etcdNodes", "odd whole number from 1 to 7"),
        ({"etcdNodes": "9"}, "etcdNodes", "odd whole number from 1 to 7"),
        ({"etcdNodes": "three"}, "etcdNodes", "'three'"),
        ({"postgresNodes": "0"}, "postgresNodes", "from 1 to 9"),
        ({"postgresNodes": "10"}, "postgresNodes", "from 1 to 9"),
        ({"postgresNodes": "2.5"}, "postgresNodes", "'2.5'"),
        ({"haproxyNodes": "0"}, "haproxyNodes", "a whole number from 1 to 3"),
        ({"haproxyNodes": "4"}, "haproxyNodes", "a whole number from 1 to 3"),
        ({"synchronousMode": "always"}, "synchronousMode", "off | on | quorum"),
        ({"rwPort": "80"}, "rwPort", "from 1024 to 65535"),
        ({"statsPort": "70000"}, "statsPort", "from 1024 to 65535"),
        ({"bindAddress": "localhost"}, "bindAddress", "an IP address"),
        ({"subnet": "10.1.0.0/8"}, "subnet", "/16 to /25"),
        ({"ttl": "10"}, "ttl", "at least 20"),
        ({"retryTimeout": "2"}, "retryTimeout", "at least 3"),
        ({"loopWait": "0"}, "loopWait", "at least 1"),
        ({"strictMode": "yes"}, "strictMode", "true | false"),
        ({"synchronousNodeCount": "0"}, "synchronousNodeCount", "at least 1"),
        ({"maximumLagOnFailover": "-1"}, "maximumLagOnFailover", "0 or more"),
        ({"subnet": "10.213.7.0/26"}, "subnet", "/16 to /25"),
        ({"metrics": "on"}, "metrics", "true | false"),
        ({"prometheusPort": "90"}, "prometheusPort", "from 1024 to 65535"),
        ({"scrapeInterval": "0"}, "scrapeInterval", "from 1 to 60"),
        ({"replicaLagAlertBytes": "-5"}, "replicaLagAlertBytes", "0 or more"),
    ],
)
def test_each_bad_value_names_key_value_and_what_is_allowed(raw, key, fragment):
    problems = problems_for(raw)
    assert len(problems) == 1
    assert problems[0].startswith(f"pgha:{key}: ")
    assert fragment in problems[0]
    assert repr(next(iter(raw.values()))) in problems[0]


def test_timings_must_satisfy_patroni_rule():
    (problem,) = problems_for({"ttl": "20", "loopWait": "10", "retryTimeout": "6"})
    assert problem.startswith("pgha:ttl: 20 is below loopWait + 2 * retryTimeout = 22")


def test_haproxy_instance_i_publishes_the_three_ports_plus_10_per_instance():
    s = parse("dev", {"haproxyNodes": "3", "postgresNodes": "2"})
    assert [s.haproxy_ports(i) for i in (1, 2, 3)] == [
        {"rwPort": 5000, "roPort": 5001, "statsPort": 7000},
        {"rwPort": 5010, "roPort": 5011, "statsPort": 7010},
        {"rwPort": 5020, "roPort": 5021, "statsPort": 7020},
    ]
    assert s.published_ports() == {
        "rwPort of haproxy-1": 5000,
        "roPort of haproxy-1": 5001,
        "statsPort of haproxy-1": 7000,
        "rwPort + 10 of haproxy-2": 5010,
        "roPort + 10 of haproxy-2": 5011,
        "statsPort + 10 of haproxy-2": 7010,
        "rwPort + 20 of haproxy-3": 5020,
        "roPort + 20 of haproxy-3": 5021,
        "statsPort + 20 of haproxy-3": 7020,
        "patroniPort of postgres-1": 8008,
        "patroniPort + 1 of postgres-2": 8009,
        "prometheusPort of prometheus": 9090,
    }
    assert "prometheusPort of prometheus" not in parse("dev", {"metrics": "false"}).published_ports()


@pytest.mark.parametrize(
    "raw, problem",
    [
        (
            {"rwPort": "7000"},
            "pgha:statsPort: port 7000 (statsPort of haproxy-1) is also the rwPort of haproxy-1; every published port must differ",
        ),
        ({"roPort": "5000"}, "pgha:roPort: port 5000 (roPort of haproxy-1) is also the rwPort of haproxy-1; "),
        (
            {"postgresNodes": "3", "patroniPort": "4999"},
            "pgha:patroniPort: port 5001 (patroniPort + 2 of postgres-3) is also the roPort of haproxy-1; ",
        ),
        (
            {"patroniPort": "65534"},
            "pgha:patroniPort: 65536 (patroniPort + 2 of postgres-3) is past 65535; use a lower patroniPort",
        ),
        ({"rwPort": "65530"}, "pgha:rwPort: 65540 (rwPort + 10 of haproxy-2) is past 65535; use a lower rwPort"),
        (
            {"prometheusPort": "8009"},
            "pgha:prometheusPort: port 8009 (prometheusPort of prometheus) is also the patroniPort + 1 of postgres-2; ",
        ),
    ],
)
def test_published_ports_never_clash(raw, problem):
    problems = problems_for(raw)
    assert any(p.startswith(problem) for p in problems), problems


def test_a_second_haproxy_instance_must_not_land_on_another_key_s_port():
    """rwPort + 10 of haproxy-2 is roPort: one line naming both keys and both instances, however many instances
    repeat the clash (haproxy-3's rwPort + 20 is haproxy-2's roPort + 10)."""
    raw = {"rwPort": "5000", "roPort": "5010"}
    expected = [
        "pgha:rwPort: port 5010 (rwPort + 10 of haproxy-2) is also the roPort of haproxy-1; "
        "every published port must differ"
    ]
    assert problems_for({**raw, "haproxyNodes": "2"}) == expected
    assert problems_for({**raw, "haproxyNodes": "3"}) == expected
    assert parse("dev", {**raw, "haproxyNodes": "1"}).published_ports()["roPort of haproxy-1"] == 5010


def test_unknown_keys_are_refused_with_a_suggestion():
    problems = problems_for({"etcdNode": "3", "colour": "blue"})
    assert "pgha:colour: unknown key; known keys: " in problems[0]
    assert problems[1] == "pgha:etcdNode: unknown key; did you mean pgha:etcdNodes?"


def test_every_problem_is_reported_at_once():
    assert len(problems_for({"etcdNodes": "2", "postgresNodes": "0", "typo": "x"})) == 3


def test_stack_names_must_fit_docker_names():
    assert "stack name 'My_Stack'" in problems_for({}, stack="My_Stack")[0]


def test_no_password_needs_setting():
    assert password_problems({}, []) == []
    assert password_problems({"appPassword": "a-long-enough-secret"}, ["appPassword"]) == []


def test_a_password_in_plain_text_is_refused_with_how_to_set_it_as_a_secret():
    (problem,) = password_problems({"appPassword": "a-long-enough-secret"}, [])
    assert problem.startswith("pgha:appPassword: set in plain text; ")
    assert "pulumi config set --secret pgha:appPassword" in problem
    assert "a-long-enough-secret" not in problem


def test_a_short_password_is_refused_without_printing_it():
    (problem,) = password_problems({"superuserPassword": "elevenchars"}, ["superuserPassword"])
    assert problem.startswith("pgha:superuserPassword: shorter than 12 characters")
    assert "elevenchars" not in problem
    assert password_problems({"superuserPassword": "twelve-chars"}, ["superuserPassword"]) == []


def test_a_short_plain_password_gets_both_lines():
    problems = password_problems({"patroniApiPassword": "abc"}, ["appPassword"])
    assert [p.split(";")[0] for p in problems] == [
        "pgha:patroniApiPassword: set in plain text",
        "pgha:patroniApiPassword: shorter than 12 characters",
    ]


@pytest.mark.parametrize("subnet", ["8.8.8.0/24", "100.64.0.0/24", "172.32.0.0/24", "192.169.0.0/24"])
def test_a_subnet_outside_the_private_ranges_is_refused(subnet):
    (problem,) = problems_for({"subnet": subnet})
    assert problem.startswith(f"pgha:subnet: {subnet} is outside the private IPv4 ranges (10.0.0.0/8, 172.16.0.0/12, ")
    assert "route" in problem


@pytest.mark.parametrize("subnet", ["10.1.0.0/16", "172.31.255.0/24", "192.168.7.128/25"])
def test_private_subnets_are_allowed(subnet):
    assert parse("dev", {"subnet": subnet}).subnet == subnet


def test_loopback_binding_gives_no_warning():
    assert exposure_warning(parse("dev", {})) is None
    assert exposure_warning(parse("dev", {"bindAddress": "::1"})) is None


def test_binding_every_address_warns_with_every_reachable_port():
    warning = exposure_warning(parse("dev", {"bindAddress": "0.0.0.0", "postgresNodes": "2"}))
    assert warning is not None
    assert warning.startswith("pgha:bindAddress: 0.0.0.0 is not a loopback address: other machines can reach")
    assert "every address of this host" in warning
    assert (
        "HAProxy's read-write, read-only and stats ports 5000, 5001, 7000 (haproxy-1) and 5010, 5011, 7010 "
        "(haproxy-2), and every node's Patroni REST API: 8008 (postgres-1), 8009 (postgres-2)"
    ) in warning
    assert "8010" not in warning


def test_binding_one_other_address_names_it():
    warning = exposure_warning(parse("dev", {"bindAddress": "192.168.1.5"}))
    assert warning is not None
    assert "on 192.168.1.5, " in warning


def test_default_subnet_is_stable_and_differs_between_stacks():
    assert default_subnet("dev") == default_subnet("dev") == parse("dev", {}).subnet
    assert default_subnet("dev") != default_subnet("exp-5-nodes")
    assert default_subnet("dev").startswith("10.213.") and default_subnet("dev").endswith(".0/24")


def test_host_problems():
    s = parse("dev", {"subnet": "10.213.7.0/24"})
    clean = HostFacts(True, frozenset(), {"bridge": "172.17.0.0/16"})
    assert host_problems(s, clean) == []
    bad = HostFacts(False, frozenset({5001, 5010, 8009}), {"pgha-other": "10.213.0.0/16"})
    problems = host_problems(s, bad)
    assert problems[0] == "pgha:bindAddress: '127.0.0.1' is not an address of this host"
    assert problems[1].startswith("pgha:roPort: port 5001 (roPort of haproxy-1) is already bound")
    assert problems[2].startswith("pgha:rwPort: port 5010 (rwPort + 10 of haproxy-2) is already bound")
    assert problems[3].startswith("pgha:patroniPort: port 8009 (patroniPort + 1 of postgres-2) is already bound")
    assert problems[4].startswith("pgha:subnet: 10.213.7.0/24 overlaps Docker network pgha-other")


def test_a_running_stack_refuses_an_etcd_count_change():
    s = parse("dev", {"etcdNodes": "5", "subnet": "10.213.7.0/24"})
    facts = HostFacts(True, frozenset(), {}, running_etcd_members=3)
    (problem,) = host_problems(s, facts)
    assert problem.startswith("pgha:etcdNodes: 5 differs from the 3 members the running stack has")
    assert host_problems(parse("dev", {"subnet": "10.213.7.0/24"}), facts) == []


def test_scaling_in_never_removes_the_primary():
    s = parse("dev", {"postgresNodes": "3", "subnet": "10.213.7.0/24"})
    (problem,) = host_problems(s, HostFacts(True, frozenset(), {}, leader="postgres-5"))
    assert problem.startswith("pgha:postgresNodes: 3 would remove postgres-5, the current primary; switch over")
    assert host_problems(s, HostFacts(True, frozenset(), {}, leader="postgres-3")) == []


def test_dynamic_settings_map_to_patroni_values():
    for mode, expected in (("off", False), ("on", True), ("quorum", "quorum")):
        s = parse("dev", {"synchronousMode": mode, "ttl": "30", "loopWait": "5", "retryTimeout": "5"})
        assert patroni_dynamic_config(s) == {
            "synchronous_mode": expected,
            "ttl": 30,
            "loop_wait": 5,
            "retry_timeout": 5,
            "synchronous_mode_strict": False,
            "synchronous_node_count": 1,
            "failsafe_mode": True,
            "maximum_lag_on_failover": 1048576,
            "postgresql": {"parameters": {"archive_timeout": "60"}},
        }


def test_strict_mode_node_count_failsafe_and_lag_are_dynamic_settings_too():
    s = parse(
        "dev", {"strictMode": "true", "synchronousNodeCount": "2", "failsafeMode": "false", "maximumLagOnFailover": "0"}
    )
    config = patroni_dynamic_config(s)
    assert (config["synchronous_mode_strict"], config["synchronous_node_count"]) == (True, 2)
    assert (config["failsafe_mode"], config["maximum_lag_on_failover"]) == (False, 0)


def test_synchronous_node_count_must_leave_a_standby_to_count():
    (problem,) = problems_for({"postgresNodes": "3", "synchronousNodeCount": "3"})
    assert problem.startswith("pgha:synchronousNodeCount: 3 is more than the 2 standbys")
    assert parse("dev", {"postgresNodes": "1", "synchronousNodeCount": "1"}).synchronous_node_count == 1


def test_postgres_parameters_are_a_map_of_strings():
    s = parse("dev", {"postgresParameters": '{"work_mem": "64MB", "max_connections": 300, "jit": false}'})
    assert s.postgres_parameters == {"work_mem": "64MB", "max_connections": "300", "jit": "off"}
    assert patroni_dynamic_config(s)["postgresql"] == {"parameters": s.postgres_parameters | {"archive_timeout": "60"}}
    (problem,) = problems_for({"postgresParameters": '["work_mem"]'})
    assert problem.startswith("pgha:postgresParameters: ")


def test_the_default_subnet_steps_past_the_subnets_other_networks_hold():
    own = default_subnet("dev")
    assert default_subnet("dev", ["172.17.0.0/16"]) == own
    taken = default_subnet("dev", [own])
    assert taken != own and taken.startswith("10.213.")
    assert default_subnet("dev", [own, taken]) not in (own, taken)
    assert default_subnet("dev", ["10.213.0.0/16"]) == own, "a full pool: the preview's overlap check says so"


@pytest.mark.parametrize(
    "text, kind, value",
    [
        ("latest", "latest", ""),
        ("2026-11-26T20:15:00+00:00", "time", "2026-11-26 20:15:00+00:00"),
        ("2026-11-26 21:15:00.5+01:00", "time", "2026-11-26 21:15:00.500000+01:00"),
        ("before-upgrade", "name", "before-upgrade"),
    ],
)
def test_restore_targets(text, kind, value):
    s = parse("dev", {"restoreFrom": "prod", "restoreTarget": text})
    assert (s.restore_target.kind, s.restore_target.value) == (kind, value)


@pytest.mark.parametrize("text", ["2026-11-26 20:15", "2026-13-01T00:00:00+00:00", "two words", "x" * 64, "a'b"])
def test_a_time_without_zone_or_an_odd_name_is_refused(text):
    assert problems_for({"restoreFrom": "prod", "restoreTarget": text})[0].startswith(
        f"pgha:restoreTarget: {text!r} is not allowed; expected latest | a time with its zone offset"
    )


def test_a_restore_target_needs_a_source():
    assert problems_for({"restoreTarget": "before-upgrade"}) == [
        "pgha:restoreTarget: set without pgha:restoreFrom, the stack whose backups to restore"
    ]


def test_a_restore_source_is_a_stack_name():
    assert problems_for({"restoreFrom": "Prod_1"})[0].startswith("pgha:restoreFrom: 'Prod_1' is not allowed")


def test_a_backup_key_the_stack_sets_must_be_a_long_secret_and_none_set_is_this_machines():
    key = "k" * 24
    assert backup_key_problems({"backupCipherPass": key}, ["backupCipherPass"]) == []
    assert backup_key_problems({}, []) == []
    assert backup_key_problems({"backupCipherPass": key}, [])[0].startswith("pgha:backupCipherPass: set in plain text")
    short = backup_key_problems({"backupCipherPass": "short-key"}, ["backupCipherPass"])
    assert short[0].startswith("pgha:backupCipherPass: shorter than 20 characters") and "short-key" not in short[0]


def test_the_backup_schedule_is_a_map_of_types_to_intervals():
    assert parse("dev", {}).backup_schedule == {"full": "7d", "incr": "1d"}
    assert parse("dev", {"backupSchedule": '{"diff": "12h", "incr": "30m"}'}).backup_schedule == {
        "diff": "12h",
        "incr": "30m",
    }
    for bad in ('{"weekly": "7d"}', '{"full": "7 days"}', '{"incr": "0h"}', '"1h"'):
        assert problems_for({"backupSchedule": bad})[0].startswith("pgha:backupSchedule: ")


def test_ports_left_unset_take_the_first_block_with_every_port_free():
    settings = parse("exp2", {})
    standard = set(settings.published_ports().values())
    assert chosen_ports(settings, PORT_KEYS, {}, lambda port: False) == block_ports(0)
    ports = chosen_ports(settings, PORT_KEYS, {}, lambda port: port in standard)
    assert ports == {"rwPort": 5100, "roPort": 5101, "statsPort": 7100, "patroniPort": 8100, "prometheusPort": 9100}
    one_taken = chosen_ports(settings, PORT_KEYS, {}, lambda port: port in standard | {8102})
    assert one_taken["rwPort"] == 5200, "postgres-3's Patroni port of block 1 is taken: block 2"


def test_a_deployed_stack_keeps_its_ports_and_a_port_the_user_sets_is_left_alone():
    settings = parse("exp2", {"rwPort": "6000"})
    kept = {"roPort": 5301, "statsPort": 7300, "patroniPort": 8300, "prometheusPort": 9300}
    unset = [key for key in PORT_KEYS if key != "rwPort"]
    assert chosen_ports(settings, unset, kept, lambda port: False) == kept
    assert "rwPort" not in chosen_ports(settings, unset, {}, lambda port: False)


def test_no_two_port_blocks_share_a_port_at_the_largest_shape():
    largest = parse("big", {"postgresNodes": "9", "haproxyNodes": "3"})
    seen: set[int] = set()
    for block in range(PORT_BLOCKS):
        ports = set(with_ports(largest, block_ports(block)).published_ports().values())
        assert not ports & seen, block
        seen |= ports
