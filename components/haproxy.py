"""HAProxy: the stack's only client entry, routing by each node's Patroni health endpoints."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_docker as docker

from components.docker_args import member_container, upload
from components.images import component_image
from pgha import render
from pgha.layout import HAPROXY_RO_PORT, HAPROXY_RW_PORT, HAPROXY_STATS_PORT, Layout


@dataclass
class HAProxyArgs:
    layout: Layout
    network_name: pulumi.Input[str]
    depends_on: list[pulumi.Resource] = field(default_factory=list)


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
            layout,
            member,
            component_image("haproxy", self),
            args.network_name,
            self,
            args.depends_on,
            ports=[
                docker.ContainerPortArgs(internal=inside, external=outside, ip=settings.bind_address)
                for inside, outside in published.items()
            ],
            uploads=[upload("/etc/haproxy/haproxy.cfg", render.haproxy_config(layout))],
        )
        self.register_outputs({})
