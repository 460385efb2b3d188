"""PgBouncer on every PostgreSQL node, with two pools: the node pool in front of that node (HAProxy's read-only
port) and the leader pool, which follows the cluster's leader and holds its clients while the primary changes
(HAProxy's read-write port; docker/pgbouncer/pools.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.docker_args import PlacementArgs, Workload, member_container, upload
from components.images import component_image
from components.password_rotation import password_files
from pgha.model import render

AUTH_FILE = "/etc/pgbouncer/auth_user.txt"
# The auth_file holds a password: written at creation only, a later change is rolled out live by
# PasswordRotation instead of replacing the container. An index into `uploads` below.
PASSWORD_UPLOADS = ["uploads[1].content"]


@dataclass(kw_only=True)
class PgBouncerPoolsArgs(PlacementArgs):
    passwords: pulumi.Output[render.Passwords]


class PgBouncerPools(pulumi.ComponentResource):
    containers: list[Workload]
    password_files: list[pulumi.Output[dict]]  # PasswordRotation's entries for these containers

    def __init__(self, name: str, args: PgBouncerPoolsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pgha:pgbouncer:PgBouncerPools", name, None, opts)
        layout = args.layout
        image = component_image("pgbouncer", self)
        auth_file = args.passwords.apply(lambda p: render.pgbouncer_auth_file(layout, p))
        self.containers, self.password_files = [], []
        for postgres, member in zip(layout.postgres(), layout.pgbouncer(), strict=True):
            container = member_container(
                args,
                member,
                image,
                self,
                ignore_changes=PASSWORD_UPLOADS,
                after=self.containers[-1:],  # one pool at a time when a change replaces them: reads never all stop
                command=["--prefix", layout.lock_prefix, "--etcd", render.etcd_client_urls(layout)],
                uploads=[
                    upload("/etc/pgbouncer/pgbouncer.ini", render.pgbouncer_node_config(postgres)),
                    upload(AUTH_FILE, auth_file),
                    upload("/etc/pgbouncer/pgbouncer-leader.ini", render.pgbouncer_leader_config()),
                ],
            )
            self.containers.append(container)
            files = auth_file.apply(lambda text: {AUTH_FILE: text})
            self.password_files.append(password_files(member.container, container, postgres.name, "hup", files))
        self.register_outputs({})
