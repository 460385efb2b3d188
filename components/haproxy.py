"""HAProxy: the stack's only client entry, routing by each node's Patroni health endpoints."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from components.docker_args import PlacementArgs, member_container, upload
from components.images import component_image
from pgha.model import render
from pgha.model.layout import HAPROXY_RO_PORT, HAPROXY_RW_PORT, HAPROXY_STATS_PORT


@dataclass(kw_only=True)
class HAProxyArgs(PlacementArgs):
    """Placement is all it needs."""


class HAProxy(pulumi.ComponentResource):
    container: docker.Container

    def __init__(self, name: str, args: HAProxyArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("pgha:haproxy:HAProxy", name, None, opts)
        layout, settings = args.layout, args.layout.settings
        member = layout.haproxy()
        published = {
            HAPROXY_RW_PORT: settings.rw_port,
            HAPROXY_RO_PORT: settings.ro_port,
            HAPROXY_STATS_PORT: settings.stats_port,
        }
        self.container = member_container(
            args,
            member,
            component_image("haproxy", self),
            self,
            ports=[
                docker.ContainerPortArgs(internal=inside, external=outside, ip=settings.bind_address)
                for inside, outside in published.items()
            ],
            uploads=[upload("/etc/haproxy/haproxy.cfg", render.haproxy_config(layout))],
        )
        self.register_outputs({})
