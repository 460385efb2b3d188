"""HAProxy: the stack's client entry, routing by each node's Patroni health endpoints. Several instances with the
same configuration, each on its own ports, so clients that list them all (libpq's multi-host URI) outlive one."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.docker_args import PlacementArgs, Workload, member_container, upload
from components.images import component_image
from pgha.model import render
from pgha.model.layout import HAPROXY_RO_PORT, HAPROXY_RW_PORT, HAPROXY_STATS_PORT, Layout, Member

# The port inside an instance that each key's host port leads to.
INSIDE = {"rwPort": HAPROXY_RW_PORT, "roPort": HAPROXY_RO_PORT, "statsPort": HAPROXY_STATS_PORT}


def published_ports(layout: Layout, member: Member) -> list[docker.ContainerPortArgs]:
    """The instance's three ports, on the bind address at the host ports its index gives."""
    settings = layout.settings
    return [
        docker.ContainerPortArgs(internal=INSIDE[key], external=outside, ip=settings.bind_address)
        for key, outside in settings.haproxy_ports(member.index).items()
    ]


@dataclass(kw_only=True)
class HAProxyArgs(PlacementArgs):
    """Placement is all it needs."""


class HAProxy(pulumi.ComponentResource):
    containers: list[Workload]

    def __init__(self, name: str, args: HAProxyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pgha:haproxy:HAProxy", name, None, opts)
        layout = args.layout
        image = component_image("haproxy", self)
        config = render.haproxy_config(layout)
        self.containers = []
        for member in layout.haproxy():
            # One at a time when a change replaces them: clients listing every instance always find one.
            self.containers.append(
                member_container(
                    args,
                    member,
                    image,
                    self,
                    after=self.containers[-1:],
                    ports=published_ports(layout, member),
                    uploads=[upload("/etc/haproxy/haproxy.cfg", config)],
                )
            )
        self.register_outputs({})
