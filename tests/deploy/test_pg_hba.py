"""Who logs in to a node's PostgreSQL, as which role, from where, on the session's stack (pgha/model/render.py,
pg_hba): from every place that is not one of pgha's own clients of a role, the login is refused by a rule, whatever
the password; the paths pgha uses still work.

A place is the host, or a member's container: a throwaway container of the node image (which has psql) joins that
member's network namespace, so its logins leave from the member's own address. Two more places sit on the stack's
network: a container Docker gives an address to, and the bench's client at the address kept for it."""

import re
import subprocess

import psycopg
import pytest

from pgha import names
from pgha.clients import patroni_api
from pgha.clients import prometheus as metrics
from pgha.model import host, render
from pgha.model.layout import POSTGRES_PORT, Layout
from pgha.model.settings import parse
from pgha.ops.bench import bench
from pgha.ops.drills import drill
from tests.deploy.conftest import passwords_in_use

HEALTHY_S = 120
# Each login pgha makes, by name: (role, database, libpq's `replication`), and the password key it logs in with.
LOGINS = {
    "superuser": (render.SUPERUSER, "postgres", "false"),
    "streaming": (render.REPLICATION_USER, "postgres", "true"),
    "replicator-sql": (render.REPLICATION_USER, "postgres", "false"),
    "auth-query": (render.AUTH_USER, "postgres", "false"),
    "auth-elsewhere": (render.AUTH_USER, "app", "false"),
    "monitor": (render.MONITOR_USER, "postgres", "false"),
    "app": (render.APP_USER, "app", "false"),
}
PASSWORD_KEYS = {
    render.SUPERUSER: "superuserPassword",
    render.REPLICATION_USER: "replicationPassword",
    render.AUTH_USER: "pgbouncerAuthPassword",
    render.MONITOR_USER: "monitorPassword",
    render.APP_USER: "appPassword",
}
# The logins each role's members make, to every node; an exporter logs in to its own node only, and any other
# place makes none.
ADMITTED = {"postgres": {"superuser", "streaming"}, "pgbouncer": {"auth-query", "app"}, "bench-net": {"app"}}
# What PostgreSQL says of a login a `reject` rule refuses (a login no rule matches says "no pg_hba.conf entry").
REJECTED = re.compile(r"pg_hba\.conf rejects (replication )?connection for host")
# One psql login per argument ("address role database replication"), a line each: the attempt, then ok or psql's
# first line. The pgpass file comes through stdin, so no password is ever on a command line.
PROBE = """
umask 077 && cat > /tmp/pgpass && export PGPASSFILE=/tmp/pgpass
for attempt do
  set -f
  set -- $attempt
  [ "$4" = true ] && sql=IDENTIFY_SYSTEM || sql="SELECT 1"
  if out=$(psql "host=$1 port=5432 user=$2 dbname=$3 replication=$4 connect_timeout=3" -XAtc "$sql" 2>&1); then
    echo "$attempt|ok"
  else
    echo "$attempt|$(printf '%s' "$out" | head -n 1)"
  fi
done
"""


@pytest.fixture(scope="module")
def stack(deployed):
    name, t = deployed
    drill.wait_healthy(t, HEALTHY_S)
    return name, t, passwords_in_use(name)


def nodes(t) -> dict[str, str]:
    """Each node's address by its short name."""
    return {member: address for address, member in t.addresses("postgres").items()}


def outcome(message: str) -> str:
    return "refused by a rule" if REJECTED.search(message) else message


def expected(place: str, role: str, node: str) -> set[str]:
    if role == "postgres-exporter":
        return {"monitor"} if names.member_index(place) == names.member_index(node) else set()
    return ADMITTED.get(role, set())


def probe(t, passwords: dict[str, str], network: list[str]) -> dict[tuple[str, str], str]:
    """Every login to every node from a throwaway container on `network` (docker run's options): (node, login) ->
    ok, refused by a rule, or psql's message."""
    image = t.containers("postgres")["postgres-1"]["Image"]
    attempts = {
        f"{address} {user} {database} {replication}": (member, login)
        for member, address in nodes(t).items()
        for login, (user, database, replication) in LOGINS.items()
    }
    pgpass = "".join(bench.pgpass_line(user, passwords[key]) for user, key in PASSWORD_KEYS.items())
    done = subprocess.run(
        ["docker", "run", "-i", "--rm", *network, "--entrypoint", "sh", image, "-c", PROBE, "probe", *attempts],
        input=pgpass,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    found = dict(line.split("|", 1) for line in done.stdout.splitlines())
    assert set(found) == set(attempts), done.stdout + done.stderr
    return {attempts[attempt]: outcome(text) for attempt, text in found.items()}


def assert_only(results: dict[tuple[str, str], str], place: str, role: str) -> None:
    for (node, login), result in sorted(results.items()):
        wanted = "ok" if login in expected(place, role, node) else "refused by a rule"
        assert result == wanted, f"from {place}, {login} on {node}: {result}"


def test_from_the_host_every_login_is_refused_by_a_rule(stack):
    """The host reaches the stack's bridge from its gateway address; no published port leads to PostgreSQL
    (test_exposure.py), so this is the host's one way in, and every role is refused there."""
    _, t, passwords = stack
    for node, address in nodes(t).items():
        for login, (user, database, replication) in LOGINS.items():
            with pytest.raises(psycopg.OperationalError) as refused:
                psycopg.connect(
                    host=address,
                    port=POSTGRES_PORT,
                    user=user,
                    password=passwords[PASSWORD_KEYS[user]],
                    dbname=database,
                    replication=replication,
                    connect_timeout=3,
                ).close()
            assert outcome(str(refused.value)) == "refused by a rule", f"{login} on {node}: {refused.value}"


def test_from_every_member_only_its_own_logins_get_in(stack):
    _, t, passwords = stack
    members = {name: c["Labels"][names.ROLE_LABEL] for name, c in t.containers().items() if c["State"] == "running"}
    assert {"postgres", "pgbouncer", "postgres-exporter", "haproxy", "etcd", "pgbackrest"} <= set(members.values())
    for place, role in sorted(members.items()):
        assert_only(probe(t, passwords, ["--network", f"container:{t.container(place)}"]), place, role)


def test_from_the_stack_network_only_the_bench_s_client_gets_in_and_only_as_the_application(stack):
    name, t, passwords = stack
    network = names.network(name)
    assert_only(probe(t, passwords, ["--network", network]), "a container on the stack network", "")
    bench_client = ["--network", network, "--ip", bench.net_client_address(name)]
    assert_only(probe(t, passwords, bench_client), "the bench's client", "bench-net")


def test_each_node_runs_the_rendered_rules(stack):
    name, t, _ = stack
    network = host.stack_network(name)
    assert network, f"stack {name} has no network"
    layout = Layout(parse(name, {"subnet": network[1]}))
    for member in layout.postgres():
        written = subprocess.run(
            ["docker", "exec", t.container(member.name), "cat", f"{render.PGDATA}/pg_hba.conf"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        rules = [line for line in written.splitlines() if line.strip() and not line.startswith("#")]
        assert rules == render.pg_hba(layout, member), member.name
        assert t.psql(member.name, "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL") == "0"


def test_pgha_s_own_paths_still_work(stack):
    """Replication streams to every replica, the application logs in through HAProxy and PgBouncer (auth_query
    included), and every node's exporter logs in."""
    _, t, _ = stack
    leader = patroni_api.current_leader(t.patroni_apis)
    streaming = t.psql(leader, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
    assert int(streaming) == len(nodes(t)) - 1
    for endpoints in (t.rw_endpoints, t.ro_endpoints):
        with psycopg.connect(**t.connection_params(endpoints), connect_timeout=5) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (render.APP_USER,)
    assert t.prometheus_url, "the session's stack collects metrics"
    assert {r["metric"]["member"] for r in metrics.query(t.prometheus_url, "pg_up == 1")} == set(nodes(t))
