"""The Docker API proxy: the one member holding the engine's socket, so that the failover watcher does not.

The engine's socket is root over the host, and mounting it read-only does not make its API read-only. The proxy
(HAProxy, config/docker-proxy.cfg) hands on only the read requests the watcher makes (the event stream, the container
list, the engine's version) and refuses every other with 403. It listens on a socket in a volume that only it and the
watcher mount: nothing reaches it over a network. It runs as its own unprivileged user, in the socket's group, with
every capability dropped. On one engine only: a Swarm stack's watchers still mount their node's socket.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.docker_args import PlacementArgs, Workload, member_container, upload
from components.images import component_image
from pgha import names
from pgha.clients import docker_api
from pgha.model import render
from pgha.model.layout import DOCKER_PROXY_DIR, ENGINE_SOCKET

CONFIG = "/etc/haproxy/docker-proxy.cfg"


@dataclass(kw_only=True)
class DockerProxyArgs(PlacementArgs):
    docker_group: int  # the group of the engine's socket (a host fact, pgha/model/host.py)


class DockerProxy(pulumi.ComponentResource):
    container: Workload
    volume: docker.Volume  # holds the proxy's socket; the watcher mounts it

    def __init__(self, name: str, args: DockerProxyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pgha:failover:DockerProxy", name, None, opts)
        layout = args.layout
        stack = layout.settings.stack
        self.volume = docker.Volume(
            "docker-proxy-socket",
            name=names.docker_proxy_volume(stack),
            labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted(layout.labels("docker-proxy").items())],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.container = member_container(
            args,
            layout.docker_proxy(),
            component_image("docker-proxy", self),
            self,
            volumes=[
                docker.ContainerVolumeArgs(host_path=docker_api.DOCKER_SOCKET, container_path=ENGINE_SOCKET),
                docker.ContainerVolumeArgs(volume_name=self.volume.name, container_path=DOCKER_PROXY_DIR),
            ],
            group_adds=[str(args.docker_group)],
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
            uploads=[upload(CONFIG, render.docker_proxy_config())],
        )
        self.register_outputs({})
