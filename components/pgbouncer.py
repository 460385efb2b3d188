"""One PgBouncer per PostgreSQL node, in front of that node only: HAProxy picks the node."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from components.docker_args import PlacementArgs, member_container, upload
from components.images import component_image
from pgha import render


@dataclass(kw_only=True)
class PgBouncerPoolsArgs(PlacementArgs):
    auth_password: pulumi.Output[str]


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
                    args,
                    member,
                    image,
                    self,
                    uploads=[
                        upload("/etc/pgbouncer/pgbouncer.ini", render.pgbouncer_config(postgres)),
                        upload("/etc/pgbouncer/auth_user.txt", auth_file),
                    ],
                )
            )
        self.register_outputs({})
