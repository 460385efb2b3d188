"""The failover watcher: on a PostgreSQL container's death, releases its leader lock in etcd at once.

Patroni alone notices a hard-killed primary only when its lock expires (ttl, 20 s at least). The Docker
engine knows at once; docker/failover-watcher/watcher.py turns its `die` events into a guarded etcd
transaction. A paused or partitioned primary is alive, produces no `die` event, and goes the TTL way.
The watcher serves its Prometheus metrics on FAILOVER_WATCHER_METRICS_PORT.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.docker_args import PlacementArgs, Workload, docker_socket, member_container
from components.docker_proxy import DockerProxy, DockerProxyArgs
from components.images import component_image
from pgha.clients import docker_api
from pgha.model import render
from pgha.model.layout import DOCKER_PROXY_DIR, DOCKER_PROXY_SOCKET, FAILOVER_WATCHER_METRICS_PORT

WATCHER_USER = "watcher"  # docker/failover-watcher/Dockerfile: in the proxy's group, which owns the proxy's socket


@dataclass(kw_only=True)
class FailoverWatcherArgs(PlacementArgs):
    docker_group: int = 0  # the group of the engine's socket, for the proxy (a host fact, pgha/model/host.py)


class FailoverWatcher(pulumi.ComponentResource):
    container: Workload

    def __init__(self, name: str, args: FailoverWatcherArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pgha:failover:FailoverWatcher", name, None, opts)
        layout = args.layout
        member = layout.failover_watcher()
        # On one engine, the engine is read through the proxy (components/docker_proxy.py); on a Swarm, each watcher
        # task mounts its node's socket.
        proxy = None
        if not args.swarm:
            proxy = DockerProxy("docker-proxy", self._proxy_args(args), pulumi.ResourceOptions(parent=self))
        self.container = member_container(
            args,
            member,
            component_image("failover-watcher", self),
            self,
            after=[proxy.container] if proxy else [],
            **self._engine_access(proxy),
            command=[
                "--stack",
                layout.settings.stack,
                "--prefix",
                layout.lock_prefix,
                "--etcd",
                render.etcd_client_urls(layout),
                "--metrics-port",
                str(FAILOVER_WATCHER_METRICS_PORT),
                "--docker",
                f"unix://{DOCKER_PROXY_SOCKET}" if proxy else f"unix://{docker_api.DOCKER_SOCKET}",
            ],
        )
        self.register_outputs({})

    @staticmethod
    def _proxy_args(args: FailoverWatcherArgs) -> DockerProxyArgs:
        return DockerProxyArgs(
            layout=args.layout,
            network_name=args.network_name,
            network_id=args.network_id,
            depends_on=args.depends_on,
            docker_group=args.docker_group,
        )

    @staticmethod
    def _engine_access(proxy: DockerProxy | None) -> dict:
        """Through the proxy's socket, as the image's unprivileged user with no capability; on a Swarm, the node's
        socket itself (read-only, which does not make its API so)."""
        if proxy is None:
            return {"volumes": [docker_socket(read_only=True)]}
        return {
            "volumes": [docker.ContainerVolumeArgs(volume_name=proxy.volume.name, container_path=DOCKER_PROXY_DIR)],
            "user": WATCHER_USER,
            "capabilities": docker.ContainerCapabilitiesArgs(drops=["ALL"]),
        }
