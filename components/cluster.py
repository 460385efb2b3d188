"""The whole stack: network, etcd, Patroni/PostgreSQL, PgBouncer, HAProxy, the failover watcher, pgBackRest, and
Prometheus with its exporters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.docker_args import OnNetwork
from components.etcd import EtcdCluster, EtcdClusterArgs
from components.failover_watcher import FailoverWatcher, FailoverWatcherArgs
from components.haproxy import HAProxy, HAProxyArgs
from components.network import Network, NetworkArgs, StopInTurn
from components.password_rotation import PasswordRotation, rotation_inputs
from components.patroni import PatroniCluster, PatroniClusterArgs
from components.patroni_config import PatroniDynamicConfig
from components.pgbackrest import BackupRepository, FirstBackup, RepositoryHost, RepositoryHostArgs
from components.pgbouncer import PgBouncerPools, PgBouncerPoolsArgs
from components.pgbouncer_exporter import PgBouncerExporters, PgBouncerExportersArgs
from components.postgres_exporter import PostgresExporters, PostgresExportersArgs
from components.prometheus import Prometheus, PrometheusArgs
from components.swarm import SwarmNodes
from pgha.model import render
from pgha.model.layout import Layout
from pgha.model.render import APP_DATABASE, APP_USER, Passwords, connection_uri
from pgha.model.settings import patroni_dynamic_config


@dataclass
class PostgresClusterArgs:
    layout: Layout
    passwords: pulumi.Output[Passwords]
    backup_key: pulumi.Output[str]  # the pgBackRest repository's cipher passphrase
    leader: str | None = None  # the member leading the running stack, None for a new one
    docker_group: int = 0  # the group of the engine's socket (a host fact, pgha/model/host.py)
    network_id: str | None = None  # the stack's network already on the engine, adopted (pgha/model/host.py)


class PostgresCluster(pulumi.ComponentResource):
    rw_endpoints: list[str]  # "address:port" of every HAProxy instance, haproxy-1 first
    ro_endpoints: list[str]
    stats_urls: list[str]
    rw_endpoint: str  # haproxy-1's
    ro_endpoint: str
    stats_url: str
    connection_string: pulumi.Output[str]  # libpq URI over every instance's read-write port; a secret
    ro_connection_string: pulumi.Output[str]
    patroni_apis: list[str]
    prometheus_url: str | None  # None when pgha:metrics is off
    placement: dict[str, int] | None  # on a Swarm, each member's node (1-based); None on the local engine

    def __init__(self, name: str, args: PostgresClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pgha:cluster:PostgresCluster", name, None, opts)
        layout, settings = args.layout, args.layout.settings
        child = pulumi.ResourceOptions(parent=self)
        swarm = SwarmNodes(layout, self) if layout.on_swarm else None
        network = Network("network", NetworkArgs(layout, swarm, args.network_id), child)
        on_network: OnNetwork = {
            "layout": layout,
            "network_name": network.name,
            "network_id": network.network_id,
            "swarm": swarm,
        }
        etcd = EtcdCluster("etcd", EtcdClusterArgs(**on_network), child)
        backups = BackupRepository("pgbackrest", layout, child) if settings.backups else None
        patroni = PatroniCluster(
            "patroni",
            PatroniClusterArgs(
                **on_network,
                passwords=args.passwords,
                backup_key=args.backup_key,
                repository_volume=backups.volume_name if backups else None,
                leader=args.leader,
                depends_on=etcd.containers,
            ),
            child,
        )
        repository_host = self._backups(backups, on_network, args, patroni, child) if backups else None
        # The pools and HAProxy start alongside the nodes, not after them: PgBouncer connects when a client asks,
        # and HAProxy sends nobody to a node before its Patroni answers the checks.
        pools = PgBouncerPools("pgbouncer", PgBouncerPoolsArgs(**on_network, passwords=args.passwords), child)
        haproxy = HAProxy("haproxy", HAProxyArgs(**on_network), child)
        # What holds the containers, for StopInTurn.
        members: list[pulumi.Resource] = [
            etcd,
            patroni,
            pools,
            haproxy,
            *([repository_host] if repository_host else []),
        ]
        password_files = patroni.password_files + pools.password_files
        self.prometheus_url = None
        if settings.metrics:
            self.prometheus_url, exporter_files, metrics = self._metrics(
                on_network, args.passwords, patroni.containers, child
            )
            password_files += exporter_files
            members += metrics
        inputs = rotation_inputs(layout, args.passwords, patroni.api_urls, password_files)
        rotation = PasswordRotation("passwords", inputs, child)
        # After the rotation: a PATCH with a new REST API password must wait until the nodes hold it.
        PatroniDynamicConfig(
            "dynamic-config",
            patroni.api_urls,
            inputs["api_password"],
            patroni_dynamic_config(settings),
            pulumi.ResourceOptions(parent=patroni, depends_on=[*patroni.containers, rotation]),
        )
        if settings.fast_failover:
            members.append(
                FailoverWatcher(
                    "failover",
                    FailoverWatcherArgs(**on_network, depends_on=etcd.containers, docker_group=args.docker_group),
                    child,
                )
            )
        if not swarm:
            StopInTurn("stop-in-turn", settings.stack, pulumi.ResourceOptions(parent=self, depends_on=members))
        rw, ro = layout.client_endpoints("rwPort"), layout.client_endpoints("roPort")
        self.rw_endpoints = [f"{host}:{port}" for host, port in rw]
        self.ro_endpoints = [f"{host}:{port}" for host, port in ro]
        self.stats_urls = [f"http://{host}:{port}/" for host, port in layout.client_endpoints("statsPort")]
        self.rw_endpoint, self.ro_endpoint, self.stats_url = (
            self.rw_endpoints[0],
            self.ro_endpoints[0],
            self.stats_urls[0],
        )
        # Secrets: they hold the app password.
        self.connection_string = pulumi.Output.secret(
            args.passwords.apply(lambda p: connection_uri(APP_USER, p.app, APP_DATABASE, rw))
        )
        self.ro_connection_string = pulumi.Output.secret(
            args.passwords.apply(lambda p: connection_uri(APP_USER, p.app, APP_DATABASE, ro))
        )
        self.patroni_apis = patroni.api_urls
        self.placement = _placement(layout) if swarm else None
        self.register_outputs(
            {
                "placement": self.placement,
                "prometheusUrl": self.prometheus_url,
                "rwEndpoint": self.rw_endpoint,
                "roEndpoint": self.ro_endpoint,
                "statsUrl": self.stats_url,
                "rwEndpoints": self.rw_endpoints,
                "roEndpoints": self.ro_endpoints,
                "statsUrls": self.stats_urls,
                "connectionString": self.connection_string,
                "roConnectionString": self.ro_connection_string,
                "patroniApis": self.patroni_apis,
            }
        )

    @staticmethod
    def _backups(
        backups: BackupRepository,
        on_network: OnNetwork,
        args: PostgresClusterArgs,
        patroni: PatroniCluster,
        child: pulumi.ResourceOptions,
    ) -> RepositoryHost:
        """The repository host, and the first backup once the nodes and it are up."""
        layout = on_network["layout"]
        repository_host = RepositoryHost(
            "pgbackrest-host",
            RepositoryHostArgs(
                **on_network,
                volume_name=backups.volume_name,
                backup_key=args.backup_key,
                docker_group=args.docker_group,
                depends_on=patroni.containers,
            ),
            child,
        )
        FirstBackup(
            "first-backup",
            layout.settings.stack,
            patroni.api_urls,
            patroni.pgbackrest_config + render.pgbackrest_host_config(layout),
            pulumi.ResourceOptions(parent=backups, depends_on=[*patroni.containers, repository_host.container]),
        )
        return repository_host

    @staticmethod
    def _metrics(
        on_network: OnNetwork,
        passwords: pulumi.Output[Passwords],
        nodes: Sequence[pulumi.Resource],
        child: pulumi.ResourceOptions,
    ) -> tuple[str, list[pulumi.Output[dict]], list[pulumi.Resource]]:
        """Prometheus and the exporters; returns Prometheus' URL, the exporters' password files and the three
        components."""
        monitor_password: pulumi.Output[str] = pulumi.Output.secret(passwords.apply(lambda p: p.monitor))
        # After the nodes: the pgha_monitor role exists once the cluster does.
        postgres = PostgresExporters(
            "postgres-exporter",
            PostgresExportersArgs(**on_network, depends_on=nodes, monitor_password=monitor_password),
            child,
        )
        pgbouncer = PgBouncerExporters(
            "pgbouncer-exporter",
            PgBouncerExportersArgs(**on_network, depends_on=nodes, monitor_password=monitor_password),
            child,
        )
        prometheus = Prometheus("prometheus", PrometheusArgs(**on_network), child)
        return prometheus.url, postgres.password_files + pgbouncer.password_files, [postgres, pgbouncer, prometheus]


def _placement(layout: Layout) -> dict[str, int]:
    """Each pinned member's node: where the drills find what to break."""
    members = [*layout.etcd(), *layout.postgres(), *layout.pgbouncer(), *layout.haproxy()]
    return {m.name: layout.node_of(m) for m in members}
