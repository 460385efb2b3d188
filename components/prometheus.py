"""Prometheus: scrapes every member of the stack and evaluates its HA alert rules (config/prometheus-alerts.yml).

Its targets are files of Prometheus' file-based discovery, written into the running server by `ScrapeTargets`:
when the stack scales, only that resource changes, and Prometheus reads the new files without a restart. Its data
is on a volume of the stack, so a new configuration (a replaced container) keeps the series.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi.dynamic as dynamic
import pulumi_docker as docker

from components.docker_args import PlacementArgs, member_container, upload, volume
from components.images import component_image
from pgha.clients import docker_api
from pgha.model import render
from pgha.model.layout import PROMETHEUS_PORT

TARGETS_DIR = "/etc/prometheus/targets"
RETENTION = "15d"


class _TargetsProvider(dynamic.ResourceProvider):
    def create(self, props: dict) -> dynamic.CreateResult:
        self._write(props)
        return dynamic.CreateResult(id_="scrape-targets", outs=props)

    def diff(self, _id: str, olds: dict, news: dict) -> dynamic.DiffResult:
        changed = any(olds.get(k) != news.get(k) for k in ("container_id", "files"))
        return dynamic.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict, news: dict) -> dynamic.UpdateResult:
        self._write(news)
        return dynamic.UpdateResult(outs=news)

    @staticmethod
    def _write(props: dict) -> None:
        for name, content in sorted(props["files"].items()):
            docker_api.put_file(props["container_id"], f"{TARGETS_DIR}/{name}", content, 0, 0, 0o644)


class ScrapeTargets(dynamic.Resource, module="prometheus", name="ScrapeTargets"):
    """The discovery files (render.scrape_targets) in the Prometheus container `container_id`, written in place."""

    def __init__(
        self,
        name: str,
        container_id: pulumi.Input[str],
        files: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(_TargetsProvider(), name, {"container_id": container_id, "files": files}, opts)


@dataclass(kw_only=True)
class PrometheusArgs(PlacementArgs):
    """Placement is all it needs: what it scrapes comes from the layout."""


class Prometheus(pulumi.ComponentResource):
    url: str  # on the stack's bind address

    def __init__(self, name: str, args: PrometheusArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pgha:prometheus:Prometheus", name, None, opts)
        layout, settings = args.layout, args.layout.settings
        member = layout.prometheus()
        data = volume(args, member, self)
        container = member_container(
            args,
            member,
            component_image("prometheus", self),
            self,
            command=[f"--storage.tsdb.retention.time={RETENTION}", f"--web.listen-address=:{PROMETHEUS_PORT}"],
            ports=[
                docker.ContainerPortArgs(
                    internal=PROMETHEUS_PORT, external=settings.prometheus_port, ip=settings.bind_address
                )
            ],
            volumes=[docker.ContainerVolumeArgs(volume_name=data.name, container_path="/var/lib/prometheus")],
            uploads=[
                upload("/etc/prometheus/prometheus.yml", render.prometheus_config(layout)),
                upload("/etc/prometheus/rules/pgha.yml", render.prometheus_alerts(layout)),
            ],
        )
        ScrapeTargets(
            "targets",
            container.id,
            render.scrape_targets(layout),
            pulumi.ResourceOptions(parent=self, depends_on=[container]),
        )
        self.url = f"http://{settings.bind_address}:{settings.prometheus_port}"
        self.register_outputs({"url": self.url})
