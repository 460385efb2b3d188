"""The etcd cluster Patroni keeps its leader lock and configuration in (v3 API only)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.docker_args import PlacementArgs, Workload, member_container, upload, volume
from components.images import component_image
from components.rolling_update import MemberBack
from pgha.model import render
from pgha.model.layout import ETCD_CLIENT_PORT


@dataclass(kw_only=True)
class EtcdClusterArgs(PlacementArgs):
    """Placement is all it needs."""


class EtcdCluster(pulumi.ComponentResource):
    containers: list[Workload]

    def __init__(self, name: str, args: EtcdClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pgha:etcd:EtcdCluster", name, None, opts)
        layout = args.layout
        image = component_image("etcd", self)
        self.containers = []
        previous: list[pulumi.Resource] = []
        for member in layout.etcd():
            data = volume(args, member, self)
            container = member_container(
                args,
                member,
                image,
                self,
                after=previous,  # a change that replaces them takes one member at a time, each healthy again first
                volumes=[docker.ContainerVolumeArgs(volume_name=data.name, container_path="/var/lib/etcd/data")],
                uploads=[upload("/etc/etcd/etcd.yml", render.etcd_config(layout, member))],
            )
            health = f"http://{member.address}:{ETCD_CLIENT_PORT}/health"
            previous = [
                MemberBack(
                    f"{member.name}-back",
                    member.name,
                    container.id,
                    {"etcd": health},
                    pulumi.ResourceOptions(parent=self, depends_on=[container]),
                )
            ]
            self.containers.append(container)
        self.register_outputs({})
