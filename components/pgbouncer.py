"""One PgBouncer per PostgreSQL node, in front of that node only: HAProxy picks the node."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_docker as docker

from components.docker_args import member_container, upload
from components.images import component_image
from pgha import render
from pgha.layout import Layout


@dataclass
class PgBouncerPoolsArgs:
    layout: Layout
    network_name: pulumi.Input[str]
    auth_password: pulumi.Output[str]
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class PgBouncerPools(pulumi.ComponentResource):
    containers: list[docker.Container]

    def __init__(self, name: str, args: PgBouncerPoolsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("pgha:pgbouncer:PgBouncerPools", name, None, opts)
        layout = args.layout
        image = component_image("pgbouncer", self)
        auth_file = args.auth_password.apply(render.pgbouncer_auth_file)
        self.containers = []
        for postgres, member in zip(layout.postgres(), layout.pgbouncer()):
            self.containers.append(
                member_container(
                    layout,
                    member,
                    image,
                    args.network_name,
                    self,
                    args.depends_on,
                    uploads=[
                        upload("/etc/pgbouncer/pgbouncer.ini", render.pgbouncer_config(postgres)),
                        upload("/etc/pgbouncer/auth_user.txt", auth_file),
                    ],
                )
            )
        self.register_outputs({})
