"""Render each component's configuration from the templates in config/: data in, text out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import TypedDict
from urllib.parse import quote

from pgha.model.layout import (
    DOCKER_PROXY_SOCKET,
    ENGINE_SOCKET,
    ETCD_CLIENT_PORT,
    FAILOVER_WATCHER_METRICS_PORT,
    HAPROXY_RO_PORT,
    HAPROXY_RW_PORT,
    HAPROXY_STATS_PORT,
    PATRONI_API_PORT,
    PATRONI_NAMESPACE,
    PGBOUNCER_EXPORTER_PORT,
    PGBOUNCER_LEADER_PORT,
    PGBOUNCER_POOLS,
    PGBOUNCER_PORT,
    POSTGRES_EXPORTER_PORT,
    POSTGRES_PORT,
    PROMETHEUS_PORT,
    Layout,
    Member,
)
from pgha.model.settings import Settings

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
APP_USER = "app"
# The roles of patroni.yml (Patroni creates the first two at bootstrap) and of PgBouncer's auth_file.
SUPERUSER = "postgres"
REPLICATION_USER = "replicator"
AUTH_USER = "pgbouncer_auth"
# The exporters' role: pg_monitor in PostgreSQL, stats_users in PgBouncer; nothing else.
MONITOR_USER = "pgha_monitor"
# The roles pgha makes and uses itself: any other is the application's.
SYSTEM_ROLES = (SUPERUSER, REPLICATION_USER, AUTH_USER, MONITOR_USER)
APP_DATABASE = "app"
# Where PgBouncer's auth_query runs (its auth_dbname) and the exporters connect.
ADMIN_DATABASE = "postgres"
SCRAM_ITERATIONS = 4096
# libpq waits this long for each host in turn: a HAProxy instance that does not answer costs a new connection
# at most this before the next is tried (2 s is libpq's smallest).
CONNECT_TIMEOUT_S = 2


# A connection whose peer vanished (a host cut off or powered off sends no reset) fails within about 5 s instead of
# TCP's 15 minutes of retransmits: keepalives while the client waits for an answer, tcp_user_timeout (Linux, in ms)
# while its own data goes unacknowledged. Every client pgha hands out or runs uses them.
class DeadPeer(TypedDict):
    keepalives_idle: int
    keepalives_interval: int
    keepalives_count: int
    tcp_user_timeout: int


DEAD_PEER = DeadPeer(keepalives_idle=2, keepalives_interval=1, keepalives_count=3, tcp_user_timeout=5000)
LEADER_TARGET_FILE = "/run/pgbouncer/leader.ini"  # written by docker/pgbouncer/pools.py
PGDATA = "/var/lib/postgresql/data/pgdata"
# The stack's pgBackRest repository, and another stack's mounted read-only to restore from (docker/patroni/Dockerfile).
REPOSITORY_PATH = "/var/lib/pgbackrest"
SOURCE_REPOSITORY_PATH = "/var/lib/pgbackrest-source"
# What a new cluster starts with; the stack's own values follow at once through Patroni's dynamic
# configuration (components/patroni_config.py), so changing them never re-renders a node's file.
# HAProxy on a Swarm: servers by name, asked again of Swarm's DNS every second (a restarted task has a new address);
# a name with no running task leaves its server down instead of failing HAProxy's start.
SWARM_SERVER = "resolvers swarm init-addr none resolve-prefer ipv4"
SWARM_RESOLVERS = (
    "resolvers swarm\n"
    "    nameserver swarm 127.0.0.11:53\n"
    "    timeout resolve 1s\n"
    "    hold valid 1s\n"
    "    hold nx 1s\n"
    "    hold obsolete 0s\n\n"
)
# pg_hba's rules that admit a login take this connection type: hostssl once PostgreSQL serves TLS, in this one
# place. The rules that refuse stay `host`, which matches a connection with TLS or without.
HBA_ADMIT = "host"
HBA_METHOD = "scram-sha-256"
LOOPBACK = "127.0.0.1/32"
ANYWHERE = "0.0.0.0/0"
SWARM_CHECK_BACKENDS = {"primary_checks": "primary", "replica_checks": "replica"}  # backend -> Patroni endpoint
BOOTSTRAP_DCS = {"ttl": 20, "loop_wait": 2, "retry_timeout": 4, "synchronous_mode": "quorum"}


@dataclass(frozen=True)
class Passwords:
    superuser: str
    replication: str
    app: str
    pgbouncer_auth: str
    patroni_api: str
    monitor: str


def _template(name: str) -> Template:
    return Template((CONFIG_DIR / name).read_text())


def _yaml_string(value: str) -> str:
    # A JSON string is a valid YAML scalar, whatever characters the password holds.
    return json.dumps(value)


def etcd_config(layout: Layout, member: Member) -> str:
    cluster = ",".join(f"{m.name}=http://{m.address}:2380" for m in layout.etcd())
    return _template("etcd.yml").substitute(
        member=member.name,
        address=member.address,
        initial_cluster=cluster,
        cluster_token=layout.scope,
    )


def patroni_config(layout: Layout, member: Member) -> str:
    """A member's configuration without its passwords: those are in patroni_secrets, a file of their own."""
    return _template("patroni.yml").substitute(
        scope=layout.scope,
        stanza=layout.settings.stanza,
        namespace=PATRONI_NAMESPACE,
        member=member.name,
        address=member.address,
        etcd_hosts=",".join(f"{m.address}:2379" for m in layout.etcd()),
        pg_hba="\n".join(f"    - {rule}" for rule in pg_hba(layout, member)),
        **BOOTSTRAP_DCS,
    )


def _admit(database: str, user: str, source: str) -> str:
    return f"{HBA_ADMIT} {database} {user} {source} {HBA_METHOD}"


def _refuse(database: str, user: str) -> str:
    return f"host {database} {user} {ANYWHERE} reject"


def _sources(layout: Layout, members: Sequence[Member]) -> list[str]:
    """Where these members' connections come from: each one's fixed address. A Swarm task has none (its address
    changes when it restarts), so there it is the stack's subnet, which only the stack's overlay hands out."""
    if not members:
        return []
    if layout.on_swarm:
        return [layout.settings.subnet]
    return [f"{m.address}/32" for m in members]


def pg_hba(layout: Layout, member: Member) -> list[str]:
    """A node's pg_hba rules: each role pgha makes only from where pgha's own clients of it run, an application role
    only through PgBouncer (or from the bench's client, for its direct path), everything else refused.

    Every node slot's address is listed, not only the running nodes', so that scaling never changes a node's file
    (which would replace its container); so is a node's exporter's, whether or not the stack collects metrics. A
    Swarm stack has neither exporters nor the bench (pgha:metrics false, the bench refuses it)."""
    slots = layout.node_slots()
    nodes = _sources(layout, [postgres for postgres, _ in slots])
    pools = _sources(layout, [pgbouncer for _, pgbouncer in slots])
    exporter = [] if layout.on_swarm else _sources(layout, [layout.postgres_exporter_of(member)])
    bench = [] if layout.on_swarm else _sources(layout, [layout.bench_client()])
    return [
        "local all all peer",  # psql through `docker exec`, pgBackRest, the password rollout
        # Patroni's own connections, and its post_bootstrap's: to localhost over TCP (it is not told to use the
        # socket), as the superuser, and as replicator where it reads a replica's timeline (IDENTIFY_SYSTEM).
        _admit("all", SUPERUSER, LOOPBACK),
        _admit("replication", REPLICATION_USER, LOOPBACK),
        # Another node's Patroni: pg_rewind and its checks of the leader as the superuser; streaming, base backups
        # and timeline checks as replicator.
        *(_admit("all", SUPERUSER, source) for source in nodes),
        *(_admit("replication", REPLICATION_USER, source) for source in nodes),
        *(_admit(ADMIN_DATABASE, AUTH_USER, source) for source in pools),  # auth_query
        *(_admit(ADMIN_DATABASE, MONITOR_USER, source) for source in exporter),
        _refuse("all", ",".join(SYSTEM_ROLES)),
        *(_admit("all", "all", source) for source in pools + bench),  # the application's roles
        _refuse("all", "all"),
        _refuse("replication", "all"),  # `all` does not match a replication connection's database
    ]


def restores_other_stack(settings: Settings) -> bool:
    return bool(settings.restore_from) and settings.restore_from != settings.stack


def pgbackrest_config(layout: Layout) -> str:
    settings = layout.settings
    source = ""
    if restores_other_stack(settings):
        source = f"\n[{settings.restore_stanza}]\npg1-path={PGDATA}\nrepo1-path={SOURCE_REPOSITORY_PATH}\n"
    return _template("pgbackrest.conf").substitute(
        repository_path=REPOSITORY_PATH,
        retention_full=settings.backup_retention_full,
        stanza=settings.stanza,
        pgdata=PGDATA,
        source_stanza=source,
    )


def pgbackrest_host_config(layout: Layout) -> str:
    """The repository host's: every PostgreSQL node by its member name (docker/pgbackrest/docker-exec-ssh)."""
    nodes = "".join(
        f"pg{m.index}-host={m.name}\npg{m.index}-host-type=ssh\npg{m.index}-host-user=postgres\n"
        f"pg{m.index}-path={PGDATA}\n"
        for m in layout.postgres()
    )
    return _template("pgbackrest-host.conf").substitute(
        repository_path=REPOSITORY_PATH,
        retention_full=layout.settings.backup_retention_full,
        stanza=layout.settings.stanza,
        nodes=nodes,
    )


def pgbackrest_secrets(cipher_pass: str) -> str:
    return f"[global]\nrepo1-cipher-pass={cipher_pass}\n"


def patroni_restore(settings: Settings) -> str:
    """The custom bootstrap of a stack restored from `settings.restore_from`'s backups (config/patroni-restore.yml);
    an empty document when the stack starts with initdb."""
    if not settings.restore_from:
        return "# pgha:restoreFrom is not set: a new cluster starts with initdb.\n{}\n"
    target = settings.restore_target
    options = {}
    if target.kind != "latest":  # latest: replay the whole archive, then PostgreSQL promotes by itself
        options = {"type": target.kind, "target": target.value, "target-action": "promote"}
    return _template("patroni-restore.yml").substitute(
        stanza=settings.restore_stanza,
        target="".join(f"    {key}: {_yaml_string(value)}\n" for key, value in options.items()),
    )


def patroni_backups_off() -> str:
    return _template("patroni-backups-off.yml").template


def patroni_secrets(passwords: Passwords) -> str:
    """The passwords Patroni uses, merged over patroni.yml: rewritten in place when one changes."""
    return _template("patroni-secrets.yml").substitute(
        superuser_password=_yaml_string(passwords.superuser),
        replication_password=_yaml_string(passwords.replication),
        patroni_api_password=_yaml_string(passwords.patroni_api),
    )


def etcd_client_urls(layout: Layout) -> str:
    return ",".join(f"http://{m.address}:2379" for m in layout.etcd())


def pgbouncer_node_config(postgres: Member) -> str:
    databases = f"[databases]\n* = host={postgres.address} port={POSTGRES_PORT}"
    return _template("pgbouncer.ini").substitute(
        port=PGBOUNCER_PORT, databases=databases, auth_database=ADMIN_DATABASE, monitor_user=MONITOR_USER
    )


def pgbouncer_leader_config() -> str:
    """The leader pool's databases are a file that docker/pgbouncer/pools.py rewrites when the leader changes."""
    return _template("pgbouncer.ini").substitute(
        port=PGBOUNCER_LEADER_PORT,
        databases=f"%include {LEADER_TARGET_FILE}",
        auth_database=ADMIN_DATABASE,
        monitor_user=MONITOR_USER,
    )


def pgbouncer_auth_file(layout: Layout, passwords: Passwords) -> str:
    """PgBouncer's auth_file: the auth_query user, in plain text since it must log in to PostgreSQL itself, and the
    exporters' user, for the admin console (which auth_query does not serve), as its SCRAM verifier."""
    escaped = passwords.pgbouncer_auth.replace('"', '""')
    monitor = role_verifiers(layout, passwords)[MONITOR_USER]
    return f'"{AUTH_USER}" "{escaped}"\n"{MONITOR_USER}" "{monitor}"\n'


def _servers(layout: Layout, pool_port: int, checks: str) -> str:
    """Traffic to a node's PgBouncer pool, routed by its Patroni's answer: by address (`check addr`), or on a Swarm,
    where tasks have no fixed address, by tracking the server of `checks` that asks that Patroni."""
    lines = []
    for postgres, pgbouncer in layout.node_slots():
        if layout.on_swarm:
            routed = f"track {checks}/{postgres.name} {SWARM_SERVER}"
        else:
            routed = f"check addr {postgres.address} port {PATRONI_API_PORT}"
        lines.append(f"    server {postgres.name} {pgbouncer.address}:{pool_port} {routed}")
    return "\n".join(lines)


def _swarm_sections(layout: Layout) -> tuple[str, str]:
    """On a Swarm: the resolver names are asked again at (a restarted task has a new address), and the backends whose
    servers ask each node's Patroni, which the traffic's servers track. Nothing with fixed addresses."""
    if not layout.on_swarm:
        return "", ""
    checks = "".join(
        f"\nbackend {backend}\n    option httpchk OPTIONS /{role}\n    http-check expect status 200\n"
        + "".join(
            f"    server {p.name} {p.address}:{PATRONI_API_PORT} check {SWARM_SERVER}\n" for p, _ in layout.node_slots()
        )
        for backend, role in SWARM_CHECK_BACKENDS.items()
    )
    return SWARM_RESOLVERS, checks


def haproxy_config(layout: Layout) -> str:
    resolvers, check_backends = _swarm_sections(layout)
    resolve = f" {SWARM_SERVER}" if layout.on_swarm else ""
    return _template("haproxy.cfg").substitute(
        rw_port=HAPROXY_RW_PORT,
        ro_port=HAPROXY_RO_PORT,
        stats_port=HAPROXY_STATS_PORT,
        resolvers=resolvers,
        check_backends=check_backends,
        rw_servers=_servers(layout, PGBOUNCER_LEADER_PORT, "primary_checks"),
        ro_servers=_servers(layout, PGBOUNCER_PORT, "replica_checks"),
        leader_pools="\n".join(
            f"    server {pgbouncer.name} {pgbouncer.address}:{PGBOUNCER_LEADER_PORT} check{resolve}"
            for _, pgbouncer in layout.node_slots()
        ),
    )


def docker_proxy_config() -> str:
    """The Docker API proxy's HAProxy configuration: the failover watcher's read requests handed on, nothing else."""
    return _template("docker-proxy.cfg").substitute(listen=DOCKER_PROXY_SOCKET, engine_socket=ENGINE_SOCKET)


def connection_uri(user: str, password: str, database: str, endpoints: Sequence[tuple[str, int]]) -> str:
    """A libpq URI over every HAProxy instance of one port: libpq tries them in order and keeps the first that
    lets it in, so one instance down fails no new connection.

    target_session_attrs=any: HAProxy's port already picks the role. The role libpq would check comes from
    PgBouncer, which replays to every client what the pool's first server login reported (in_hot_standby), so
    after a failover read-write would refuse the new primary until that PgBouncer restarts (pgbouncer#859).
    """
    hosts = ",".join(f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in endpoints)
    user, password, database = (quote(text, safe="") for text in (user, password, database))
    return (
        f"postgresql://{user}:{password}@{hosts}/{database}"
        f"?target_session_attrs=any&connect_timeout={CONNECT_TIMEOUT_S}&"
        + "&".join(f"{key}={value}" for key, value in DEAD_PEER.items())
    )


def scram_secret(password: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier (RFC 5802/7677): what pg_authid stores instead of a password."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _stable_salt(scope: str, role: str) -> bytes:
    # Derived, not random: the rendered SQL stays the same between runs, so Pulumi sees no diff.
    return hashlib.sha256(f"{scope}/{role}".encode()).digest()[:16]


def role_verifiers(layout: Layout, passwords: Passwords) -> dict[str, str]:
    """Each login role's SCRAM verifier: what bootstrap creates and a password change sets (ALTER ROLE)."""
    plain = {
        SUPERUSER: passwords.superuser,
        REPLICATION_USER: passwords.replication,
        APP_USER: passwords.app,
        AUTH_USER: passwords.pgbouncer_auth,
        MONITOR_USER: passwords.monitor,
    }
    return {role: scram_secret(password, _stable_salt(layout.scope, role)) for role, password in plain.items()}


def bootstrap_sql(layout: Layout, passwords: Passwords) -> str:
    """Run once by Patroni's post_bootstrap on the new cluster; holds verifiers, never passwords."""
    verifiers = role_verifiers(layout, passwords)
    return _template("patroni-bootstrap.sql").substitute(
        app_user=APP_USER,
        app_database=APP_DATABASE,
        app_verifier=verifiers[APP_USER],
        auth_verifier=verifiers[AUTH_USER],
        monitor_role=monitor_role_sql(verifiers[MONITOR_USER]),
    )


def monitor_role_sql(verifier: str) -> str:
    """The exporters' role, made if missing (a stack bootstrapped before it existed gets it at its first password
    rollout, pgha/actions/rotation.py), with its verifier and PostgreSQL's pg_monitor."""
    return (
        f"SELECT 'CREATE ROLE {MONITOR_USER}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{MONITOR_USER}')"
        f" \\gexec\nALTER ROLE {MONITOR_USER} LOGIN PASSWORD '{verifier}';\nGRANT pg_monitor TO {MONITOR_USER};\n"
    )


def postgres_exporter_source(postgres: Member) -> str:
    """postgres_exporter's DATA_SOURCE_URI: the node's PostgreSQL, without user or password (given apart)."""
    return f"{postgres.address}:{POSTGRES_PORT}/{ADMIN_DATABASE}?sslmode=disable"


def pgbouncer_exporter_source(pgbouncer: Member, pool: str) -> str:
    """The admin console of one of a node's pools, as pgbouncer_exporter takes it; the password comes from the
    environment its entrypoint sets from a file (docker/pgbouncer-exporter)."""
    return f"postgres://{MONITOR_USER}@{pgbouncer.address}:{PGBOUNCER_POOLS[pool]}/pgbouncer?sslmode=disable"


def _targets(
    scraped: Sequence[Member], port: int, watched: Sequence[Member] | None = None, **labels: str
) -> list[dict]:
    """One target per scraped member, labelled with the member it watches (an exporter: the node it reports on)."""
    return [
        {"targets": [f"{m.address}:{port}"], "labels": {"member": w.name, **labels}}
        for m, w in zip(scraped, watched or scraped, strict=True)
    ]


def scrape_targets(layout: Layout) -> dict[str, str]:
    """Prometheus' file-based discovery: one JSON file per scrape job (config/prometheus.yml), rewritten in the
    running server when the stack scales (components/prometheus.py), so Prometheus is never restarted for it."""
    jobs = {
        "patroni": _targets(layout.postgres(), PATRONI_API_PORT),
        "postgres": _targets(layout.postgres_exporters(), POSTGRES_EXPORTER_PORT, layout.postgres()),
        "pgbouncer": [
            target
            for pool in PGBOUNCER_POOLS
            for target in _targets(
                layout.pgbouncer_exporters(pool), PGBOUNCER_EXPORTER_PORT, layout.pgbouncer(), pool=pool
            )
        ],
        "etcd": _targets(layout.etcd(), ETCD_CLIENT_PORT),
        "haproxy": _targets(layout.haproxy(), HAPROXY_STATS_PORT),
        "failover-watcher": _targets(
            [layout.failover_watcher()] if layout.settings.fast_failover else [], FAILOVER_WATCHER_METRICS_PORT
        ),
    }
    return {f"{job}.json": json.dumps(targets, indent=1, sort_keys=True) + "\n" for job, targets in jobs.items()}


def prometheus_config(layout: Layout) -> str:
    settings = layout.settings
    return _template("prometheus.yml").substitute(
        interval=f"{settings.scrape_interval}s",
        stack=settings.stack,
        prometheus_port=PROMETHEUS_PORT,
    )


def prometheus_alerts(layout: Layout) -> str:
    """The HA alert rules (config/prometheus-alerts.yml), with this stack's thresholds; the synchronous standby
    rule only where synchronous replication is on."""
    settings = layout.settings
    text = _template("prometheus-alerts.yml").substitute(
        replica_lag_bytes=settings.replica_lag_alert_bytes,
        etcd_quorum=settings.etcd_nodes // 2 + 1,
        claim_for=f"{3 * settings.scrape_interval}s",
    )
    if settings.synchronous_mode == "off":
        lines = text.splitlines(keepends=True)
        begin, end = (
            next(i for i, line in enumerate(lines) if line.strip() == mark)
            for mark in ("# synchronous:begin", "# synchronous:end")
        )
        text = "".join(lines[:begin] + lines[end + 1 :])
    return text
