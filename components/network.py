"""The stack's own bridge network, on its own subnet so members keep fixed addresses."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from pgha.model.layout import Layout


@dataclass
class NetworkArgs:
    layout: Layout


class Network(pulumi.ComponentResource):
    name: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pgha:network:Network", name, None, opts)
        layout = args.layout
        subnet = ipaddress.ip_network(layout.settings.subnet)
        network = docker.Network(
            name,
            name=layout.network,
            driver="bridge",
            ipam_configs=[docker.NetworkIpamConfigArgs(subnet=str(subnet), gateway=str(subnet[1]))],
            labels=[docker.NetworkLabelArgs(label=k, value=v) for k, v in sorted(layout.labels("network").items())],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = network.name
        self.register_outputs({"name": self.name})
