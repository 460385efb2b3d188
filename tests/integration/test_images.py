"""The component images build from docker/<component>/Dockerfile, and each real program accepts the
configuration pgha renders for it (HAProxy and Patroni check theirs; PostgreSQL runs the bootstrap SQL)."""

import base64
import subprocess

import pytest

from pgha.model import render
from pgha.model.images import check_image
from pgha.model.layout import Layout
from pgha.model.settings import parse

COMPONENTS = (
    "etcd",
    "patroni",
    "pgbouncer",
    "haproxy",
    "failover-watcher",
    "pgbackrest",
    "prometheus",
    "postgres-exporter",
    "pgbouncer-exporter",
)
PASSWORDS = render.Passwords("su-pw", "repl-pw", "app-secret-pw", "auth-pw", "api-pw", "monitor-pw")
LAYOUT = Layout(parse("imgtest", {"subnet": "10.213.250.0/24"}))


def docker(*args, stdin=None, check=True, timeout=600):
    return subprocess.run(["docker", *args], input=stdin, text=True, capture_output=True, check=check, timeout=timeout)


@pytest.fixture(scope="module")
def images():
    tags = {}
    for component in COMPONENTS:
        try:
            tag = check_image(component)
        except subprocess.CalledProcessError as exc:
            pytest.fail(f"{component} image failed to build:\n{exc.stderr[-3000:]}")
        tags[component] = tag
    return tags


def run_with_file(image, path, content, command, make_dir=None):
    """Runs `command` in a throwaway container of `image` after writing `content` to `path` (in `make_dir`,
    made first, when given)."""
    script = (f"mkdir -p {make_dir} && " if make_dir else "") + f"cat > {path} && {command}"
    return docker(
        "run", "--rm", "-i", "--network", "none", "--entrypoint", "sh", image, "-c", script, stdin=content, check=False
    )


@pytest.mark.parametrize(
    "component, command, expected",
    [
        ("patroni", "patroni --version && postgres --version", "PostgreSQL) 17."),
        ("patroni", "patroni --version", "patroni 4."),
        ("etcd", "etcd --version", "etcd Version: 3.5."),
        ("pgbouncer", "pgbouncer --version", "PgBouncer 1."),
        ("haproxy", "haproxy -v", "HAProxy version 3."),
        ("failover-watcher", "python3 /usr/local/bin/pgha-failover-watcher --help", "usage: pgha-failover-watcher"),
        ("pgbackrest", "python3 /usr/local/bin/pgha-backup-scheduler --help", "usage: pgha-backup-scheduler"),
        ("pgbackrest", "docker --version", "Docker version"),
        ("prometheus", "prometheus --version 2>&1", "prometheus, version 2."),
        ("prometheus", "promtool --version 2>&1", "promtool, version 2."),
        ("postgres-exporter", "prometheus-postgres-exporter --version 2>&1", "postgres_exporter, version 0."),
        ("pgbouncer-exporter", "prometheus-pgbouncer-exporter --version 2>&1", "pgbouncer_exporter, version 0."),
    ],
)
def test_images_carry_the_expected_versions(images, component, command, expected):
    result = docker("run", "--rm", "--network", "none", "--entrypoint", "sh", images[component], "-c", command)
    assert expected in result.stdout


def test_the_nodes_and_the_repository_host_run_one_pgbackrest_version(images):
    """pgBackRest refuses a remote of another version: both images install it from the same archive."""
    versions = {
        c: docker("run", "--rm", "--network", "none", "--entrypoint", "pgbackrest", images[c], "version").stdout
        for c in ("patroni", "pgbackrest")
    }
    assert versions["patroni"].startswith("pgBackRest 2.55") and versions["patroni"] == versions["pgbackrest"], versions


@pytest.mark.parametrize(
    "component, check",
    [
        # Patroni's etcd3 store needs python-etcd, which apt does not pick for patroni by itself.
        ("patroni", "python3 -c 'import patroni.dcs.etcd3'"),
        # etcd runs unprivileged: it must reach and write its data directory (a volume mounts there).
        ("etcd", "test -w /var/lib/etcd/data"),
        ("patroni", "test -w /var/lib/postgresql/data && test -w /run/patroni"),
        # Prometheus writes its data (a volume mounts there); the exporters read the password files pgha writes as
        # uid 999 (pgha/actions/rotation.py).
        ("prometheus", "test -w /var/lib/prometheus && test $(id -un) = prometheus"),
        ("postgres-exporter", "test $(id -u) = 999 && test -r /etc/postgres-exporter"),
        ("pgbouncer-exporter", "test $(id -u) = 999 && test -r /etc/pgbouncer-exporter"),
    ],
)
def test_images_run_unprivileged_with_what_they_need(images, component, check):
    result = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "sh", images[component], "-c", check, check=False
    )
    assert result.returncode == 0, f"{component}: `{check}` failed: {result.stderr}"


def test_haproxy_accepts_its_rendered_configuration(images):
    result = run_with_file(
        images["haproxy"], "/tmp/haproxy.cfg", render.haproxy_config(LAYOUT), "haproxy -c -V -f /tmp/haproxy.cfg"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configuration file is valid" in result.stdout + result.stderr


def test_haproxy_rejects_a_broken_configuration(images):
    broken = render.haproxy_config(LAYOUT).replace("check addr", "check adr")
    result = run_with_file(images["haproxy"], "/tmp/haproxy.cfg", broken, "haproxy -c -f /tmp/haproxy.cfg")
    assert result.returncode != 0


# What `patroni --validate-config` reports that is not a fault of the configuration: etcd cannot be
# reached from a throwaway container, and Patroni 4.0.7's validator predates the `quorum` value that
# its runtime accepts (patroni/global_config.py, is_quorum_commit_mode).
KNOWN_VALIDATOR_NOISE = ("is not reachable", "synchronous_mode quorum is not a boolean")


def validate_patroni_config_dir(image, config):
    """`patroni --validate-config` on a directory like the image's /etc/patroni/conf.d: the member's settings
    and its passwords, merged in name order as Patroni runs them."""
    secrets = base64.b64encode(render.patroni_secrets(PASSWORDS).encode()).decode()
    command = f"echo {secrets} | base64 -d > /tmp/c/20-secrets.yml && patroni --validate-config /tmp/c"
    return run_with_file(image, "/tmp/c/10-patroni.yml", config, command, make_dir="/tmp/c")


def test_patroni_accepts_its_rendered_configuration(images):
    result = validate_patroni_config_dir(images["patroni"], render.patroni_config(LAYOUT, LAYOUT.postgres()[0]))
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert [p for p in problems if not any(noise in p for noise in KNOWN_VALIDATOR_NOISE)] == []


def test_patroni_rejects_a_broken_configuration(images):
    broken = render.patroni_config(LAYOUT, LAYOUT.postgres()[0]).replace("/usr/lib/postgresql/17/bin", "/nowhere")
    result = validate_patroni_config_dir(images["patroni"], broken)
    assert result.returncode != 0
    assert "/nowhere" in result.stdout + result.stderr


POSTGRES_CHECK = """
set -e
initdb -D /tmp/pg --auth-local=peer --auth-host=scram-sha-256 >/dev/null
echo "host all all 127.0.0.1/32 scram-sha-256" >> /tmp/pg/pg_hba.conf
pg_ctl -D /tmp/pg -o "-c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp" -w start >/dev/null
psql -h /tmp -d postgres -v ON_ERROR_STOP=1 -q -f /tmp/bootstrap.sql
PGPASSWORD=app-secret-pw psql -h 127.0.0.1 -U app -d app -Atc "select 'app login ok as ' || current_user"
PGPASSWORD=wrong psql -h 127.0.0.1 -U app -d app -Atc "select 1" 2>/dev/null && echo "wrong password accepted"
PGPASSWORD=auth-pw psql -h 127.0.0.1 -U pgbouncer_auth -d postgres -Atc "select 'auth rows: ' || count(*) from pgbouncer.get_auth('app') where passwd like 'SCRAM-SHA-256%'"
PGPASSWORD=auth-pw psql -h 127.0.0.1 -U pgbouncer_auth -d postgres -Atc "select 'superuser rows: ' || count(*) from pgbouncer.get_auth('postgres')"
PGPASSWORD=auth-pw psql -h 127.0.0.1 -U pgbouncer_auth -d postgres -Atc "select count(*) from pg_authid" 2>/dev/null && echo "auth user reads pg_authid"
true
"""


def test_postgres_runs_the_bootstrap_sql_and_its_verifiers_accept_the_real_passwords(images):
    sql = render.bootstrap_sql(LAYOUT, PASSWORDS)
    result = run_with_file(images["patroni"], "/tmp/bootstrap.sql", sql, POSTGRES_CHECK)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "app login ok as app" in out
    assert "auth rows: 1" in out and "superuser rows: 0" in out
    assert "wrong password accepted" not in out and "auth user reads pg_authid" not in out
