"""PostgreSQL 17 nodes run by Patroni, each with its data on its own volume."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from components.docker_args import PlacementArgs, member_container, upload, volume
from components.images import component_image
from pgha import render
from pgha.layout import PATRONI_API_PORT
from pgha.patroni_config import PatroniDynamicConfig
from pgha.settings import patroni_dynamic_config


@dataclass(kw_only=True)
class PatroniClusterArgs(PlacementArgs):
    passwords: pulumi.Output[render.Passwords]


class PatroniCluster(pulumi.ComponentResource):
    containers: list[docker.Container]
    api_urls: list[str]

    def __init__(self, name: str, args: PatroniClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("pgha:patroni:PatroniCluster", name, None, opts)
        layout, settings = args.layout, args.layout.settings
        image = component_image("patroni", self)
        bootstrap_sql = args.passwords.apply(lambda p: render.bootstrap_sql(layout, p))
        self.containers, self.api_urls = [], []
        for member in layout.postgres():
            data = volume(layout, member, self)
            api_port = settings.patroni_api_port(member.index)
            config = args.passwords.apply(lambda p, m=member: render.patroni_config(layout, m, p))
            self.containers.append(
                member_container(
                    args,
                    member,
                    image,
                    self,
                    # Patroni stops PostgreSQL with a fast shutdown; give it time before SIGKILL.
                    destroy_grace_seconds=30,
                    ports=[docker.ContainerPortArgs(internal=PATRONI_API_PORT, external=api_port, ip=settings.bind_address)],
                    volumes=[docker.ContainerVolumeArgs(volume_name=data.name, container_path="/var/lib/postgresql/data")],
                    uploads=[
                        upload("/etc/patroni/patroni.yml", config),
                        upload("/etc/patroni/bootstrap.sql", bootstrap_sql),
                    ],
                )
            )
            self.api_urls.append(f"http://{settings.bind_address}:{api_port}")
        PatroniDynamicConfig(
            "dynamic-config",
            self.api_urls,
            args.passwords.apply(lambda p: p.patroni_api),
            patroni_dynamic_config(settings),
            pulumi.ResourceOptions(parent=self, depends_on=self.containers),
        )
        self.register_outputs({"apiUrls": self.api_urls})
