"""A node's pg_hba as rendered: who may log in, as which role, to which database, from where; judged by matching
connections against the rules in order as PostgreSQL does (the first rule that matches decides)."""

import ipaddress
import json

import pytest
import yaml

from pgha.model import render
from pgha.model.layout import BENCH_CLIENT_OFFSET, Layout, Member, subnet_address
from pgha.model.settings import MAX_POSTGRES_NODES, parse

SUBNET = "10.213.7.0/24"
SCRAM, REJECT = "scram-sha-256", "reject"
NODES = ["tcp://10.214.9.11:2375", "tcp://10.214.9.12:2375", "tcp://10.214.9.13:2375"]
SWARM = {"engine": "swarm", "swarmNodes": json.dumps(NODES), "metrics": "false", "backups": "false"}
# A login of each kind pgha makes: (role, database, replication connection).
SUPERUSER = (render.SUPERUSER, "postgres", False)
STREAMING = (render.REPLICATION_USER, "replication", True)
REPLICATOR_SQL = (render.REPLICATION_USER, "postgres", False)
AUTH_QUERY = (render.AUTH_USER, "postgres", False)
AUTH_ELSEWHERE = (render.AUTH_USER, "app", False)
MONITOR = (render.MONITOR_USER, "postgres", False)
APP = ("app", "app", False)
APP_ON_POSTGRES = ("app", "postgres", False)
ANOTHER_APP_ROLE = ("reports", "app", False)
LOGINS = [SUPERUSER, STREAMING, REPLICATOR_SQL, AUTH_QUERY, AUTH_ELSEWHERE, MONITOR, APP, APP_ON_POSTGRES]
LOGINS += [ANOTHER_APP_ROLE]


def layout(**raw) -> Layout:
    return Layout(parse("dev", {"subnet": SUBNET, **{k: str(v) for k, v in raw.items()}}))


def method(rules: list[str], login: tuple[str, str, bool], source: str) -> str:
    """What PostgreSQL does with a TCP login from `source`: the method of the first rule that matches; a login no
    rule matches is refused too (it says no pg_hba.conf entry)."""
    user, database, replication = login
    for rule in rules:
        kind, databases, users, *rest = rule.split()
        if kind == "local":
            continue
        address, how = rest
        wanted = databases.split(",")
        database_matches = "replication" in wanted if replication else ("all" in wanted or database in wanted)
        user_matches = "all" in users.split(",") or user in users.split(",")
        if database_matches and user_matches and ipaddress.ip_address(source) in ipaddress.ip_network(address):
            return how
    return "no entry"


def admitted(rules: list[str], source: str) -> set[tuple[str, str, bool]]:
    return {login for login in LOGINS if method(rules, login, source) == SCRAM}


def places(lay: Layout) -> dict[str, str]:
    """Every address on the stack's network that is none of the nodes, PgBouncers, exporters or the bench client: the
    host's (the bridge's gateway), every other member's, and one Docker would hand a container run by hand."""
    others: list[Member] = [*lay.etcd(), *lay.haproxy(), lay.failover_watcher(), lay.pgbackrest(), lay.prometheus()]
    others += [e for pool in render.PGBOUNCER_POOLS for e in lay.pgbouncer_exporters(pool)]
    subnet = ipaddress.ip_network(lay.settings.subnet)
    return {
        "host": str(subnet[1]),
        "a container run by hand": str(subnet[2]),
        "another network": "172.17.0.2",
        **{m.name: m.address for m in others},
    }


VARIANTS = [
    {"postgresNodes": n, "metrics": metrics, "backups": backups}
    for n in (1, 3, 5)
    for metrics in ("true", "false")
    for backups in ("true", "false")
]


@pytest.mark.parametrize("raw", VARIANTS, ids=lambda raw: "-".join(str(v) for v in raw.values()))
def test_each_role_logs_in_only_from_where_pgha_s_own_clients_of_it_run(raw):
    lay = layout(**raw)
    slots = lay.node_slots()
    for node in lay.postgres():
        rules = render.pg_hba(lay, node)
        assert rules[0] == "local all all peer"
        assert admitted(rules, "127.0.0.1") == {SUPERUSER, STREAMING}, "Patroni's own connections to localhost"
        for postgres, pgbouncer in slots:  # every slot, running or not: scaling changes no node's file
            assert admitted(rules, postgres.address) == {SUPERUSER, STREAMING}, postgres.name
            assert admitted(rules, pgbouncer.address) == {AUTH_QUERY, APP, APP_ON_POSTGRES, ANOTHER_APP_ROLE}
            exporter = lay.postgres_exporter_of(postgres)
            assert admitted(rules, exporter.address) == ({MONITOR} if postgres == node else set()), exporter.name
        assert admitted(rules, lay.bench_client().address) == {APP, APP_ON_POSTGRES, ANOTHER_APP_ROLE}
        for place, address in places(lay).items():
            assert admitted(rules, address) == set(), place


def test_every_refusal_is_an_explicit_rule():
    lay = layout()
    rules = render.pg_hba(lay, lay.postgres()[0])
    sources = ["127.0.0.1", *places(lay).values(), *(m.address for slot in lay.node_slots() for m in slot)]
    for source in sources:
        for login in LOGINS:
            assert method(rules, login, source) in (SCRAM, REJECT), (source, login)
    assert rules[-2:] == ["host all all 0.0.0.0/0 reject", "host replication all 0.0.0.0/0 reject"]


def test_no_rule_trusts_or_names_a_whole_network():
    for node in layout().postgres():
        for rule in render.pg_hba(layout(), node)[1:]:
            kind, _, _, source, how = rule.split()
            assert kind == "host" and how in (SCRAM, REJECT), rule
            assert source.endswith("/32") or (source, how) == ("0.0.0.0/0", REJECT), rule


def test_the_rules_do_not_change_with_the_node_count_metrics_or_backups():
    """A node's file is part of what replaces its container: scaling or turning metrics on or off must not."""
    largest = layout(postgresNodes=MAX_POSTGRES_NODES)
    for lay in (layout(**raw) for raw in VARIANTS):
        for node in lay.postgres():
            assert render.pg_hba(lay, node) == render.pg_hba(largest, largest.postgres()[node.index - 1])
    assert len({tuple(render.pg_hba(largest, n)) for n in largest.postgres()}) == MAX_POSTGRES_NODES, "own exporters"


def test_the_connection_type_of_every_admitting_rule_is_one_setting(monkeypatch):
    """TLS later makes the admitting rules hostssl in one place; the refusals stay host, matching with TLS or not."""
    monkeypatch.setattr(render, "HBA_ADMIT", "hostssl")
    lay = layout()
    rules = render.pg_hba(lay, lay.postgres()[0])[1:]
    assert all(rule.startswith("hostssl ") == rule.endswith(SCRAM) for rule in rules), rules
    assert all(rule.startswith("host ") for rule in rules if rule.endswith(REJECT))


def test_the_patroni_config_carries_the_rules():
    lay = layout()
    for node in lay.postgres():
        doc = yaml.safe_load(render.patroni_config(lay, node))
        assert doc["postgresql"]["pg_hba"] == render.pg_hba(lay, node)


def test_on_a_swarm_each_role_is_admitted_from_the_stack_s_subnet_only():
    """Swarm tasks have no fixed address: a role's sources are the stack's overlay subnet, which holds no host's
    address (the host reaches tasks through docker_gwbridge and the ingress network, on other subnets). No exporter
    and no bench client run there, so the monitor role and the application's from outside a pool have no rule."""
    lay = Layout(parse("s1", {"subnet": "10.213.9.0/24", **SWARM, "postgresNodes": "3"}))
    rules = render.pg_hba(lay, lay.postgres()[0])
    assert admitted(rules, "127.0.0.1") == {SUPERUSER, STREAMING}
    everything_but_the_monitor = {SUPERUSER, STREAMING, AUTH_QUERY, APP, APP_ON_POSTGRES, ANOTHER_APP_ROLE}
    for source in ("10.213.9.2", "10.213.9.200"):
        assert admitted(rules, source) == everything_but_the_monitor, source
    for source in ("172.18.0.1", "10.0.0.2", "10.213.8.5"):  # docker_gwbridge, the ingress, another stack's
        assert admitted(rules, source) == set(), source
    assert len(rules) == len(set(rules)), "one rule per role and source, not one per member"


def test_the_bench_places_its_client_where_the_rules_admit_it():
    """The bench finds the address from the network's subnet alone (pgha/ops/bench/bench.py)."""
    lay = layout()
    assert subnet_address(SUBNET, BENCH_CLIENT_OFFSET) == lay.bench_client().address == "10.213.7.30"
