import base64
import configparser
import hashlib
import hmac
import json
import re
from urllib.parse import unquote, urlsplit

import psycopg
import pytest
import yaml

from pgha.model import render
from pgha.model.layout import Layout
from pgha.model.settings import parse

PASSWORDS = render.Passwords(
    superuser='su"per\\pw',
    replication="repl-pw",
    app="app-pw",
    pgbouncer_auth='au"th',
    patroni_api="api-pw",
    monitor="monitor-pw",
)


def layout(**raw):
    return Layout(parse("dev", {"subnet": "10.213.7.0/24", **{k: str(v) for k, v in raw.items()}}))


def test_layout_names_and_fixed_addresses():
    lay = layout(etcdNodes=3, postgresNodes=2)
    assert [m.container for m in lay.etcd()] == ["pgha-dev-etcd-1", "pgha-dev-etcd-2", "pgha-dev-etcd-3"]
    assert [m.address for m in lay.postgres()] == ["10.213.7.21", "10.213.7.22"]
    assert [m.address for m in lay.pgbouncer()] == ["10.213.7.41", "10.213.7.42"]
    assert [(m.container, m.address) for m in lay.haproxy()] == [
        ("pgha-dev-haproxy-1", "10.213.7.5"),
        ("pgha-dev-haproxy-2", "10.213.7.6"),
    ]
    assert lay.labels("postgres", "postgres-1") == {
        "pgha.stack": "dev",
        "pgha.role": "postgres",
        "pgha.member": "postgres-1",
    }


def test_every_member_of_the_largest_stack_has_an_address_of_its_own():
    lay = layout(etcdNodes=7, postgresNodes=9, haproxyNodes=3, subnet="10.213.7.0/25")
    members = [*lay.etcd(), *lay.postgres(), *lay.pgbouncer(), *lay.haproxy(), lay.failover_watcher()]
    members += [lay.pgbackrest(), lay.prometheus(), *lay.postgres_exporters(), lay.bench_client()]
    members += [e for pool in ("node", "leader") for e in lay.pgbouncer_exporters(pool)]
    addresses = [m.address for m in members]
    assert len(set(addresses)) == len(addresses) == 7 + 9 + 9 + 3 + 1 + 3 + 9 + 18
    assert "10.213.7.1" not in addresses, "the gateway's"
    assert [m.address for m in lay.haproxy()] == ["10.213.7.5", "10.213.7.6", "10.213.7.7"]


def test_client_endpoints_list_every_haproxy_instance_in_order():
    lay = layout(haproxyNodes=3, bindAddress="127.0.0.2", rwPort=6000, roPort=6001)
    assert lay.client_endpoints("rwPort") == [("127.0.0.2", 6000), ("127.0.0.2", 6010), ("127.0.0.2", 6020)]
    assert lay.client_endpoints("statsPort") == [("127.0.0.2", 7000), ("127.0.0.2", 7010), ("127.0.0.2", 7020)]
    assert layout(haproxyNodes=1).client_endpoints("roPort") == [("127.0.0.1", 5001)]


def test_connection_uri_lists_every_endpoint_in_order_and_keeps_any_role():
    uri = render.connection_uri("app", "secret", "app", [("127.0.0.1", 5000), ("127.0.0.1", 5010)])
    assert uri == (
        "postgresql://app:secret@127.0.0.1:5000,127.0.0.1:5010/app?target_session_attrs=any&connect_timeout=2"
        "&keepalives_idle=2&keepalives_interval=1&keepalives_count=3&tcp_user_timeout=5000"
    )


def test_connection_uri_percent_encodes_the_password_user_and_database():
    password = "p@ss:w/rd?#%& ü"
    uri = render.connection_uri("app user", password, "my/db", [("127.0.0.1", 5000)])
    userinfo, rest = uri[len("postgresql://") :].split("@", 1)
    assert "@" not in userinfo and "/" not in userinfo and " " not in userinfo
    assert [unquote(part) for part in userinfo.split(":")] == ["app user", password]
    assert rest.startswith("127.0.0.1:5000/my%2Fdb?")


def test_connection_uri_is_what_libpq_reads():
    password = "p@ss:w/rd?#%&"
    uri = render.connection_uri("app", password, "app", [("127.0.0.1", 5000), ("::1", 5010)])
    assert urlsplit(uri).netloc.endswith("@127.0.0.1:5000,[::1]:5010")
    parsed = psycopg.conninfo.conninfo_to_dict(uri)
    assert {k: parsed[k] for k in ("user", "password", "dbname", "host", "port", "target_session_attrs")} == {
        "user": "app",
        "password": password,
        "dbname": "app",
        "host": "127.0.0.1,::1",
        "port": "5000,5010",
        "target_session_attrs": "any",
    }


def test_patroni_config_is_valid_yaml_with_the_stack_settings():
    lay = layout(etcdNodes=3)
    doc = yaml.safe_load(render.patroni_config(lay, lay.postgres()[0]))
    assert doc["scope"] == "pgha-dev" and doc["name"] == "postgres-1"
    assert doc["etcd3"]["hosts"] == "10.213.7.11:2379,10.213.7.12:2379,10.213.7.13:2379"
    assert "etcd" not in doc  # the v3 API only
    dcs = doc["bootstrap"]["dcs"]
    assert {k: dcs[k] for k in render.BOOTSTRAP_DCS} == render.BOOTSTRAP_DCS
    assert dcs["failsafe_mode"] is True
    assert dcs["postgresql"]["use_pg_rewind"] is True and dcs["postgresql"]["use_slots"] is True
    assert doc["postgresql"]["authentication"]["superuser"] == {"username": "postgres"}
    assert doc["restapi"]["authentication"] == {"username": "patroni"}
    assert doc["restapi"]["connect_address"] == "10.213.7.21:8008"
    assert all("trust" not in line for line in doc["postgresql"]["pg_hba"])


def test_patroni_config_does_not_change_with_dynamic_settings():
    """They are applied live through Patroni's API; a different file would replace the node."""
    base = layout()
    other = layout(ttl=30, loopWait=5, retryTimeout=5, synchronousMode="off")
    member = base.postgres()[0]
    assert render.patroni_config(base, member) == render.patroni_config(other, member)


def test_patroni_passwords_are_a_file_of_their_own_merged_over_the_settings():
    """Only that file changes with a password, so only it is rewritten in place (pgha.actions.rotation)."""
    doc = yaml.safe_load(render.patroni_secrets(PASSWORDS))
    assert doc["postgresql"]["authentication"]["superuser"]["password"] == PASSWORDS.superuser  # quotes, backslashes
    assert doc["postgresql"]["authentication"]["replication"]["password"] == "repl-pw"
    assert doc["restapi"]["authentication"]["password"] == "api-pw"
    assert all(p not in render.patroni_config(layout(), layout().postgres()[0]) for p in PASSWORDS.__dict__.values())


def test_role_verifiers_are_scram_and_what_bootstrap_creates():
    lay = layout()
    verifiers = render.role_verifiers(lay, PASSWORDS)
    assert sorted(verifiers) == ["app", "pgbouncer_auth", "pgha_monitor", "postgres", "replicator"]
    assert all(v.startswith("SCRAM-SHA-256$4096:") for v in verifiers.values())
    sql = render.bootstrap_sql(lay, PASSWORDS)
    assert verifiers["app"] in sql and verifiers["pgbouncer_auth"] in sql and verifiers["pgha_monitor"] in sql
    assert "GRANT pg_monitor TO pgha_monitor;" in sql
    other = render.role_verifiers(lay, render.Passwords(**{**PASSWORDS.__dict__, "app": "another-app-pw"}))
    assert [r for r in verifiers if verifiers[r] != other[r]] == ["app"]


def test_etcd_config_lists_every_member():
    lay = layout(etcdNodes=3)
    doc = yaml.safe_load(render.etcd_config(lay, lay.etcd()[1]))
    assert doc["name"] == "etcd-2"
    assert doc["initial-cluster"] == ",".join(f"etcd-{i}=http://10.213.7.1{i}:2380" for i in (1, 2, 3))
    assert doc["advertise-client-urls"] == "http://10.213.7.12:2379"
    assert doc["enable-v2"] is False


def test_pgbouncer_node_pool_points_at_its_own_node_with_scram_and_auth_query():
    lay = layout()
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(render.pgbouncer_node_config(lay.postgres()[1]))
    assert ini["databases"]["*"] == "host=10.213.7.22 port=5432"
    assert ini["pgbouncer"]["listen_port"] == "6432"
    assert ini["pgbouncer"]["auth_type"] == "scram-sha-256"
    assert ini["pgbouncer"]["pool_mode"] == "transaction"
    assert ini["pgbouncer"]["auth_query"] == "SELECT usename, passwd FROM pgbouncer.get_auth($1)"


def test_pgbouncer_leader_pool_takes_its_databases_from_the_file_pools_rewrites():
    text = render.pgbouncer_leader_config()
    assert text.splitlines()[4] == f"%include {render.LEADER_TARGET_FILE}"
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(text.replace(f"%include {render.LEADER_TARGET_FILE}", ""))
    assert ini["pgbouncer"]["listen_port"] == "6433"
    assert ini["pgbouncer"]["unix_socket_dir"] == "/run/pgbouncer"
    assert "databases" not in ini


def test_pgbouncer_auth_file_escapes_quotes_and_holds_the_monitor_verifier_only():
    lay = layout()
    lines = render.pgbouncer_auth_file(lay, PASSWORDS).splitlines()
    assert lines == [
        '"pgbouncer_auth" "au""th"',
        f'"pgha_monitor" "{render.role_verifiers(lay, PASSWORDS)["pgha_monitor"]}"',
    ]
    assert PASSWORDS.monitor not in lines[1]
    assert "stats_users = pgha_monitor" in render.pgbouncer_leader_config()


def test_haproxy_routes_to_pgbouncer_and_checks_patroni():
    lay = layout(postgresNodes=3)
    cfg = render.haproxy_config(lay)
    rw = cfg.split("\nbackend read_write")[1].split("\nbackend leader_pools")[0]
    fallback = cfg.split("\nbackend leader_pools")[1].split("listen read_only")[0]
    ro = cfg.split("listen read_only")[1]
    assert "option httpchk OPTIONS /primary" in rw and "option httpchk OPTIONS /replica" in ro
    for i in range(1, 10):  # every slot, whatever postgresNodes is: scaling never restarts HAProxy
        check = f"check addr 10.213.7.2{i} port 8008"
        assert f"server postgres-{i} 10.213.7.4{i}:6433 {check}" in rw  # the leader pools
        assert f"server postgres-{i} 10.213.7.4{i}:6432 {check}" in ro  # the node pools
        assert f"server pgbouncer-{i} 10.213.7.4{i}:6433 check\n" in fallback + "\n"  # while no primary is up
    assert "use_backend leader_pools if { nbsrv(read_write) eq 0 }" in cfg
    assert render.haproxy_config(layout(postgresNodes=5)) == cfg
    # Read-write sessions ride out a change of primary in their pool; read-only ones leave a node that stops serving.
    assert "shutdown-sessions" not in rw and "on-marked-down shutdown-sessions" in ro
    assert "prometheus-exporter" in cfg
    assert "${" not in cfg


def _rfc7677_server_signature(server_key: bytes) -> str:
    auth_message = (
        "n=user,r=rOprNGfwEbeRWgbNEkqO,"
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    )
    return base64.b64encode(hmac.new(server_key, auth_message.encode(), hashlib.sha256).digest()).decode()


def test_scram_secret_matches_rfc_7677_example():
    secret = render.scram_secret("pencil", base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
    head, keys = secret.split("$", 1)[1].split("$")
    assert head == "4096:W22ZaJ0SNY7soEsUEjb6gQ=="
    server_key = base64.b64decode(keys.split(":")[1])
    assert _rfc7677_server_signature(server_key) == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_bootstrap_sql_holds_verifiers_not_passwords_and_is_stable():
    lay = layout()
    sql = render.bootstrap_sql(lay, PASSWORDS)
    assert PASSWORDS.app not in sql and 'au"th' not in sql
    assert sql.count("SCRAM-SHA-256$4096:") == 3
    assert sql == render.bootstrap_sql(lay, PASSWORDS)
    assert "$$ SELECT usename" in sql


def pgbackrest_sections(text):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return {name: dict(parser[name]) for name in parser.sections()}


def test_pgbackrest_config_holds_the_stack_stanza_and_no_key():
    sections = pgbackrest_sections(render.pgbackrest_config(layout(backupRetentionFull=3)))
    assert sections["global"]["repo1-path"] == render.REPOSITORY_PATH
    assert sections["global"]["repo1-retention-full"] == "3"
    assert sections["global"]["repo1-cipher-type"] == "aes-256-cbc" and "repo1-cipher-pass" not in sections["global"]
    assert sections["global:archive-push"]["archive-async"] == "y"
    assert "archive-async" not in sections["global"], "archive-get stays synchronous (pgBackRest 2.55)"
    assert sections["pgha-dev"] == {"pg1-path": render.PGDATA}
    assert set(sections) == {"global", "global:archive-push", "pgha-dev"}


def test_a_restored_stack_reads_the_source_stanza_from_the_source_repository():
    sections = pgbackrest_sections(render.pgbackrest_config(layout(restoreFrom="prod")))
    assert sections["pgha-prod"] == {"pg1-path": render.PGDATA, "repo1-path": render.SOURCE_REPOSITORY_PATH}
    assert sections["pgha-dev"] == {"pg1-path": render.PGDATA}
    assert pgbackrest_sections(render.pgbackrest_secrets("k3y")) == {"global": {"repo1-cipher-pass": "k3y"}}


def test_patroni_archives_to_the_stack_stanza_and_builds_replicas_from_it():
    postgresql = yaml.safe_load(render.patroni_config(layout(), layout().postgres()[0]))["postgresql"]
    assert postgresql["parameters"]["archive_command"] == "pgbackrest --stanza=pgha-dev archive-push %p"
    assert postgresql["recovery_conf"]["restore_command"] == 'pgbackrest --stanza=pgha-dev archive-get %f "%p"'
    assert postgresql["create_replica_methods"] == ["pgbackrest", "basebackup"]
    assert postgresql["pgbackrest"] == {"command": "pgbackrest --stanza=pgha-dev restore", "no_params": True}
    assert postgresql["data_dir"] == render.PGDATA


def test_a_restore_to_a_time_promotes_at_the_target():
    bootstrap = yaml.safe_load(
        render.patroni_restore(layout(restoreFrom="prod", restoreTarget="2026-11-26T20:15:00+00:00").settings)
    )["bootstrap"]
    assert bootstrap == {
        "method": "pgbackrest",
        "pgbackrest": {
            "command": "pgbackrest --stanza=pgha-prod restore",
            "keep_existing_recovery_conf": True,
            "no_params": True,
            "type": "time",
            "target": "2026-11-26 20:15:00+00:00",
            "target-action": "promote",
        },
    }


def test_a_restore_of_the_latest_replays_the_whole_archive():
    method = yaml.safe_load(render.patroni_restore(layout(restoreFrom="prod").settings))["bootstrap"]["pgbackrest"]
    assert {"type", "target", "target-action"}.isdisjoint(method)


def test_the_repository_host_reaches_every_node_by_name_and_prefers_a_standby():
    sections = pgbackrest_sections(render.pgbackrest_host_config(layout(postgresNodes=2)))
    assert sections["global"]["backup-standby"] == "prefer"
    assert sections["global"]["cmd-ssh"] == "/usr/local/bin/docker-exec-ssh"
    assert sections["pgha-dev"] == {
        "pg1-host": "postgres-1",
        "pg1-host-type": "ssh",
        "pg1-host-user": "postgres",
        "pg1-path": render.PGDATA,
        "pg2-host": "postgres-2",
        "pg2-host-type": "ssh",
        "pg2-host-user": "postgres",
        "pg2-path": render.PGDATA,
    }


def test_scrape_targets_cover_every_member_and_follow_the_node_count():
    lay = layout(postgresNodes=3, etcdNodes=3, haproxyNodes=2)
    files = {name: json.loads(text) for name, text in render.scrape_targets(lay).items()}
    members = {
        job.removesuffix(".json"): sorted(t["labels"]["member"] for t in targets) for job, targets in files.items()
    }
    assert members == {
        "patroni": ["postgres-1", "postgres-2", "postgres-3"],
        "postgres": ["postgres-1", "postgres-2", "postgres-3"],
        "pgbouncer": ["pgbouncer-1", "pgbouncer-1", "pgbouncer-2", "pgbouncer-2", "pgbouncer-3", "pgbouncer-3"],
        "etcd": ["etcd-1", "etcd-2", "etcd-3"],
        "haproxy": ["haproxy-1", "haproxy-2"],
        "failover-watcher": ["failover-watcher"],
    }
    assert files["postgres.json"][0]["targets"] == [f"{lay.postgres_exporters()[0].address}:9187"]
    assert {t["labels"]["pool"] for t in files["pgbouncer.json"]} == {"node", "leader"}
    five = {name: json.loads(text) for name, text in render.scrape_targets(layout(postgresNodes=5)).items()}
    assert len(five["patroni.json"]) == 5 and len(five["pgbouncer.json"]) == 10
    assert json.loads(render.scrape_targets(layout(fastFailover="false"))["failover-watcher.json"]) == []


def test_prometheus_scrapes_at_the_stack_interval_and_reads_the_discovery_files():
    doc = yaml.safe_load(render.prometheus_config(layout(scrapeInterval=2)))
    assert doc["global"]["scrape_interval"] == doc["global"]["evaluation_interval"] == "2s"
    jobs = {job["job_name"]: job for job in doc["scrape_configs"]}
    assert set(jobs) == {"prometheus", "patroni", "postgres", "pgbouncer", "etcd", "haproxy", "failover-watcher"}
    assert jobs["etcd"]["file_sd_configs"] == [{"files": ["/etc/prometheus/targets/etcd.json"]}]


def test_alert_rules_take_the_stack_thresholds_and_drop_the_synchronous_rule_when_replication_is_async():
    def rules(**raw):
        return {
            r["alert"]: r for g in yaml.safe_load(render.prometheus_alerts(layout(**raw)))["groups"] for r in g["rules"]
        }

    quorum = rules(synchronousMode="quorum", replicaLagAlertBytes=1000, etcdNodes=5)
    assert "> 1000" in quorum["PghaReplicaLagHigh"]["expr"] and "< 3" in quorum["PghaEtcdNoQuorum"]["expr"]
    assert "PghaNoSynchronousStandby" in quorum
    assert set(quorum) - set(rules(synchronousMode="off")) == {"PghaNoSynchronousStandby"}


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("GET", "/version", True),
        ("GET", "/v1.41/events", True),
        ("GET", "/v1.41/containers/json", True),
        ("HEAD", "/_ping", True),
        ("POST", "/v1.41/containers/create", False),
        ("POST", "/v1.41/events", False),
        ("GET", "/v1.41/containers/pgha-dev-postgres-1/json", False),
        ("GET", "/v1.41/containers/json/../create", False),
        ("POST", "/v1.41/containers/pgha-dev-postgres-1/exec", False),
        ("GET", "/v1.41/secrets", False),
    ],
)
def test_the_docker_proxy_lets_through_the_watchers_reads_only(method, path, allowed):
    config = render.docker_proxy_config()
    (pattern,) = re.findall(r"path_reg (\S+)", config)
    (methods,) = re.findall(r"acl read_only method (.+)", config)
    assert (method in methods.split() and re.search(pattern, path) is not None) == allowed
    assert "http-request deny deny_status 403 unless read_only allowed" in config
    assert "bind /run/docker-proxy/docker.sock mode 660" in config
