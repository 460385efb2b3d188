"""A deployed stack works end to end and survives its primary being killed."""

import psycopg
import requests

from pgha.clients import patroni_api
from pgha.ops.drills import drill, integrity, probe
from pgha.ops.drills.faults import SCENARIOS
from tests.deploy.conftest import pulumi

CONVERGE_S = 120


def connect(t, endpoint):
    host, port = endpoint
    return psycopg.connect(
        host=host, port=port, dbname=t.database, user=t.user, password=t.password, connect_timeout=3, autocommit=True
    )


def test_cluster_is_whole(deployed):
    _, t = deployed
    drill.wait_healthy(t, CONVERGE_S)
    members = patroni_api.cluster(t.patroni_apis)["members"]
    assert [m["role"] for m in members].count("leader") == 1
    assert all(m["state"] == "streaming" for m in members if m["role"] != "leader")
    assert len(members) == 3


def test_data_checksums_are_on_on_every_node(deployed):
    _, t = deployed
    _, names = integrity.members(t)
    shown = integrity.data_checksums(t, names)
    assert sorted(shown) == ["postgres-1", "postgres-2", "postgres-3"]
    assert integrity.checksum_problems(shown) == []


def test_a_row_written_through_rw_is_read_through_ro_on_a_replica(deployed):
    _, t = deployed
    with connect(t, t.rw) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS deploy_check (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO deploy_check VALUES (1, 'through haproxy and pgbouncer') ON CONFLICT DO NOTHING")
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
    deadline_rows = []
    for _ in range(50):
        with connect(t, t.ro) as conn:
            in_recovery, rows = conn.execute(
                "SELECT pg_is_in_recovery(), (SELECT count(*) FROM deploy_check WHERE id = 1)"
            ).fetchone()
        assert in_recovery is True
        deadline_rows.append(rows)
        if rows == 1:
            break
    assert deadline_rows[-1] == 1, "the row never reached the replica behind roEndpoint"


def test_the_read_write_path_goes_through_pgbouncer(deployed):
    stack, t = deployed
    pgbouncers = {
        c["NetworkSettings"]["Networks"][f"pgha-{stack}"]["IPAddress"] for c in t.containers("pgbouncer").values()
    }
    with connect(t, t.rw) as conn:
        client = conn.execute("SELECT host(inet_client_addr())").fetchone()[0]
    assert client in pgbouncers


def test_every_haproxy_instance_s_stats_page_lists_every_backend(deployed):
    _, t = deployed
    assert len(t.stats_urls) == 2 and len(t.containers("haproxy")) == 2
    for url in t.stats_urls:
        page = requests.get(url, timeout=5).text
        for i in (1, 2, 3):
            assert f"postgres-{i}" in page, url
        assert "haproxy_server_status" in requests.get(url.rstrip("/") + "/metrics", timeout=5).text


def test_the_connection_strings_reach_the_primary_and_a_replica_through_either_instance(deployed):
    stack, t = deployed
    for output, in_recovery in (("connectionString", False), ("roConnectionString", True)):
        uri = pulumi("stack", "output", output, "--show-secrets", stack=stack).stdout.strip()
        hosts = psycopg.conninfo.conninfo_to_dict(uri)["host"]
        assert isinstance(hosts, str) and len(hosts.split(",")) == 2, "both instances are listed"
        with psycopg.connect(uri) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            assert row is not None and row[0] is in_recovery
    for endpoint in t.rw_endpoints:  # each instance on its own routes to the primary
        with connect(t, endpoint) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False


def test_a_killed_primary_fails_over_without_losing_the_row(deployed):
    _, t = deployed
    with connect(t, t.rw) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS deploy_check (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO deploy_check VALUES (2, 'before the kill') ON CONFLICT DO NOTHING")
    probe.ensure_table(t)
    ttl = int(patroni_api.dynamic_config(t.patroni_apis)["ttl"])
    trial = drill.run_trial(t, SCENARIOS["kill-primary"], 1, ttl)
    print(f"kill-primary: client-side write outage {trial.rto_s} s, lost {trial.lost_acked}")
    assert trial.new_primary and trial.new_primary != trial.old_primary
    assert trial.lost_acked == 0 and not trial.split_brain
    with connect(t, t.rw) as conn:
        assert conn.execute("SELECT note FROM deploy_check WHERE id = 2").fetchone()[0] == "before the kill"
    old = patroni_api.cluster(t.patroni_apis)["members"]
    assert next(m for m in old if m["name"] == trial.old_primary)["state"] == "streaming"
