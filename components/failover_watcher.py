"""The failover watcher: on a PostgreSQL container's death, releases its leader lock in etcd at once.

Patroni alone notices a hard-killed primary only when its lock expires (ttl, 20 s at least). The Docker
engine knows at once; docker/failover-watcher/watcher.py turns its `die` events into a guarded etcd
transaction. A paused or partitioned primary is alive, produces no `die` event, and goes the TTL way.
The watcher serves its Prometheus metrics on FAILOVER_WATCHER_METRICS_PORT.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.docker_args import PlacementArgs, Workload, docker_socket, member_container
from components.images import component_image
from pgha.model import render
from pgha.model.layout import FAILOVER_WATCHER_METRICS_PORT


@dataclass(kw_only=True)
class FailoverWatcherArgs(PlacementArgs):
    """Placement is all it needs."""


class FailoverWatcher(pulumi.ComponentResource):
    container: Workload

    def __init__(self, name: str, args: FailoverWatcherArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pgha:failover:FailoverWatcher", name, None, opts)
        layout = args.layout
        member = layout.failover_watcher()
        self.container = member_container(
            args,
            member,
            component_image("failover-watcher", self),
            self,
            # Read-only: the watcher only listens to the engine's events.
            volumes=[docker_socket(read_only=True)],
            command=[
                "--stack",
                layout.settings.stack,
                "--prefix",
                layout.lock_prefix,
                "--etcd",
                render.etcd_client_urls(layout),
                "--metrics-port",
                str(FAILOVER_WATCHER_METRICS_PORT),
            ],
        )
        self.register_outputs({})
