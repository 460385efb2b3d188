"""postgres_exporter, one per PostgreSQL node: the node's own statistics (commits, connections, replication,
database sizes) as the `pgha_monitor` role (pg_monitor) sees them. Its password is a file of its container, rolled
out live by PasswordRotation."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.docker_args import PlacementArgs, Workload, exporter_container
from components.images import component_image
from components.password_rotation import password_files
from pgha.model import render

PASSWORD_FILE = "/etc/postgres-exporter/password"


@dataclass(kw_only=True)
class PostgresExportersArgs(PlacementArgs):
    monitor_password: pulumi.Output[str]


class PostgresExporters(pulumi.ComponentResource):
    containers: list[Workload]
    password_files: list[pulumi.Output[dict]]  # PasswordRotation's entries for these containers

    def __init__(self, name: str, args: PostgresExportersArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pgha:exporters:PostgresExporters", name, None, opts)
        layout = args.layout
        image = component_image("postgres-exporter", self)
        files = args.monitor_password.apply(lambda password: {PASSWORD_FILE: password})
        self.containers, self.password_files = [], []
        for postgres, member in zip(layout.postgres(), layout.postgres_exporters(), strict=True):
            container = exporter_container(
                args,
                member,
                image,
                self,
                PASSWORD_FILE,
                args.monitor_password,
                envs=[
                    f"DATA_SOURCE_URI={render.postgres_exporter_source(postgres)}",
                    f"DATA_SOURCE_USER={render.MONITOR_USER}",
                    f"DATA_SOURCE_PASS_FILE={PASSWORD_FILE}",
                ],
            )
            self.containers.append(container)
            self.password_files.append(password_files(member.container, container, postgres.name, "restart", files))
        self.register_outputs({})
