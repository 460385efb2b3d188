"""The stack's Prometheus: every member scraped and up, published on the bind address only, its exporters'
password never in their containers' configuration and changed live, and the dashboard drawn from it."""

import secrets
import subprocess
import time

from pgha.clients import prometheus as metrics
from pgha.ops import dashboard
from tests.deploy.conftest import container_ids, pulumi
from tests.deploy.test_credentials import set_password

# The session's stack: 3 nodes (two PgBouncer pools each), 3 etcd members, 2 HAProxy instances, the watcher.
EXPECTED = {
    "patroni": 3,
    "postgres": 3,
    "pgbouncer": 6,
    "etcd": 3,
    "haproxy": 2,
    "failover-watcher": 1,
    "prometheus": 1,
}


def test_every_member_is_scraped_and_up(deployed):
    _, t = deployed
    waited = metrics.wait_targets(t.prometheus_url, EXPECTED, 60)
    print(f"every target up after {waited} s")
    # The exporters log in: PostgreSQL's and PgBouncer's own figures are there, not only the exporters' `up`.
    assert {r["metric"]["member"] for r in metrics.query(t.prometheus_url, "pg_up == 1")} == {
        "postgres-1",
        "postgres-2",
        "postgres-3",
    }
    pools = metrics.query(t.prometheus_url, "pgbouncer_up == 1")
    assert sorted((r["metric"]["member"], r["metric"]["pool"]) for r in pools) == sorted(
        (f"pgbouncer-{i}", pool) for i in (1, 2, 3) for pool in ("node", "leader")
    )
    assert metrics.query(t.prometheus_url, "count(patroni_primary == 1)")[0]["value"][1] == "1"


def test_prometheus_is_published_on_the_bind_address_only(deployed):
    _, t = deployed
    assert t.prometheus_url.startswith("http://127.0.0.1:")
    port = int(t.prometheus_url.rsplit(":", 1)[1])
    bindings = t.containers("prometheus")["prometheus"]["Ports"]
    assert [(b["IP"], b["PublicPort"]) for b in bindings if "PublicPort" in b] == [("127.0.0.1", port)]


def test_the_exporters_password_is_in_a_file_not_in_their_configuration(deployed):
    _, t = deployed
    for name, path in (
        ("postgres-exporter-1", "/etc/postgres-exporter/password"),
        ("pgbouncer-leader-exporter-1", "/etc/pgbouncer-exporter/password"),
    ):
        password = subprocess.run(
            ["docker", "exec", t.container(name), "cat", path], capture_output=True, text=True, check=True, timeout=120
        ).stdout.strip()
        assert len(password) >= 20
        inspected = subprocess.run(
            ["docker", "inspect", t.container(name)], capture_output=True, text=True, check=True, timeout=120
        )
        assert password not in inspected.stdout, f"{name}'s password shows in docker inspect"


def test_the_dashboard_draws_the_last_minutes(deployed, tmp_path):
    _, t = deployed
    end = time.time()
    path = dashboard.render(t.prometheus_url, end - 300, end, tmp_path / "dashboard.png")
    assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 20_000


def test_the_monitor_password_changes_live_and_every_exporter_logs_in_with_it(deployed):
    stack, t = deployed
    before = {name: id_ for name, id_ in container_ids(t).items() if "exporter" in name}
    new_password = secrets.token_urlsafe(24)
    try:
        set_password(stack, "monitorPassword", new_password)
        result = pulumi("up", "--yes", "--skip-preview", stack=stack, check=False)
        assert result.returncode == 0 and "replaced" not in result.stdout, result.stdout[-3000:]
        # Restarted in place (the exporters read their password at start), not replaced.
        assert {name: id_ for name, id_ in container_ids(t).items() if "exporter" in name} == before
        for name in ("postgres-exporter-2", "pgbouncer-node-exporter-3"):
            written = subprocess.run(
                ["docker", "exec", t.container(name), "sh", "-c", "cat /etc/*-exporter/password"],
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            ).stdout
            assert written == new_password
        metrics.wait_targets(t.prometheus_url, EXPECTED, 60)
        # `up` above is the exporters' own: each must log in with the new password after its restart.
        deadline = time.monotonic() + 30
        while len(metrics.query(t.prometheus_url, "pg_up == 1 or pgbouncer_up == 1")) < 9:
            assert time.monotonic() < deadline, metrics.query(t.prometheus_url, "pg_up == 0 or pgbouncer_up == 0")
            time.sleep(1)
    finally:
        set_password(stack, "monitorPassword", None)
        pulumi("up", "--yes", "--skip-preview", stack=stack)
