"""PostgreSQL 17 nodes run by Patroni, each with its data on its own volume."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from components.docker_args import PlacementArgs, member_container, upload, volume
from components.images import component_image
from components.password_rotation import password_files
from pgha.model import render
from pgha.model.layout import PATRONI_API_PORT

CONFIG_DIR = "/etc/patroni/conf.d"  # Patroni merges its YAML files in name order (docker/patroni/Dockerfile)
SECRETS_FILE = f"{CONFIG_DIR}/20-secrets.yml"
BOOTSTRAP_SQL = "/etc/patroni/bootstrap.sql"
# The uploads that hold passwords (or verifiers) are written at creation only: a later change is rolled out
# live by PasswordRotation instead of replacing the container. Indexes into `uploads` below.
PASSWORD_UPLOADS = ["uploads[1].content", "uploads[2].content"]


@dataclass(kw_only=True)
class PatroniClusterArgs(PlacementArgs):
    passwords: pulumi.Output[render.Passwords]


class PatroniCluster(pulumi.ComponentResource):
    containers: list[docker.Container]
    api_urls: list[str]
    password_files: list[pulumi.Output[dict]]  # PasswordRotation's entries for these containers

    def __init__(self, name: str, args: PatroniClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("pgha:patroni:PatroniCluster", name, None, opts)
        layout, settings = args.layout, args.layout.settings
        image = component_image("patroni", self)
        secrets = args.passwords.apply(lambda p: {SECRETS_FILE: render.patroni_secrets(p),
                                                  BOOTSTRAP_SQL: render.bootstrap_sql(layout, p)})
        self.containers, self.api_urls, self.password_files = [], [], []
        for member in layout.postgres():
            data = volume(layout, member, self)
            api_port = settings.patroni_api_port(member.index)
            container = member_container(
                args,
                member,
                image,
                self,
                ignore_changes=PASSWORD_UPLOADS,
                # Patroni stops PostgreSQL with a fast shutdown; give it time before SIGKILL.
                destroy_grace_seconds=30,
                ports=[docker.ContainerPortArgs(internal=PATRONI_API_PORT, external=api_port, ip=settings.bind_address)],
                volumes=[docker.ContainerVolumeArgs(volume_name=data.name, container_path="/var/lib/postgresql/data")],
                uploads=[
                    upload(f"{CONFIG_DIR}/10-patroni.yml", render.patroni_config(layout, member)),
                    upload(SECRETS_FILE, secrets.apply(lambda s: s[SECRETS_FILE])),
                    upload(BOOTSTRAP_SQL, secrets.apply(lambda s: s[BOOTSTRAP_SQL])),
                ],
            )
            self.containers.append(container)
            self.password_files.append(password_files(member.container, container, member.name, "patroni", secrets))
            self.api_urls.append(f"http://{settings.bind_address}:{api_port}")
        self.register_outputs({"apiUrls": self.api_urls})
