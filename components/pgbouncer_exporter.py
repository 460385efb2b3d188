"""pgbouncer_exporter, one per node and pool (a node's PgBouncer runs two: the node pool and the leader pool, each
with its own admin console): clients active and waiting, servers, per pool. It logs in as `pgha_monitor`, one of
PgBouncer's stats_users. Its password is a file of its container, rolled out live by PasswordRotation."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.docker_args import PlacementArgs, Workload, exporter_container
from components.images import component_image
from components.password_rotation import password_files
from pgha.model import render
from pgha.model.layout import PGBOUNCER_POOLS

PASSWORD_FILE = "/etc/pgbouncer-exporter/password"


@dataclass(kw_only=True)
class PgBouncerExportersArgs(PlacementArgs):
    monitor_password: pulumi.Output[str]


class PgBouncerExporters(pulumi.ComponentResource):
    containers: list[Workload]
    password_files: list[pulumi.Output[dict]]  # PasswordRotation's entries for these containers

    def __init__(self, name: str, args: PgBouncerExportersArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pgha:exporters:PgBouncerExporters", name, None, opts)
        layout = args.layout
        image = component_image("pgbouncer-exporter", self)
        files = args.monitor_password.apply(lambda password: {PASSWORD_FILE: password})
        self.containers, self.password_files = [], []
        for pool in PGBOUNCER_POOLS:
            for postgres, pgbouncer, member in zip(
                layout.postgres(), layout.pgbouncer(), layout.pgbouncer_exporters(pool), strict=True
            ):
                container = exporter_container(
                    args,
                    member,
                    image,
                    self,
                    PASSWORD_FILE,
                    args.monitor_password,
                    command=[f"--pgBouncer.connectionString={render.pgbouncer_exporter_source(pgbouncer, pool)}"],
                )
                self.containers.append(container)
                self.password_files.append(password_files(member.container, container, postgres.name, "restart", files))
        self.register_outputs({})
