"""The stack's own network, on its own subnet: a bridge on the local engine, where members keep fixed addresses; on a
Swarm an attachable overlay across the nodes, made through the manager."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.swarm import SwarmNodes
from pgha.model.layout import Layout


@dataclass
class NetworkArgs:
    layout: Layout
    swarm: SwarmNodes | None = None


class Network(pulumi.ComponentResource):
    name: pulumi.Output[str]
    network_id: pulumi.Output[str]  # the Docker network's ID, which Swarm services name it by

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pgha:network:Network", name, None, opts)
        layout = args.layout
        subnet = ipaddress.ip_network(layout.settings.subnet)
        swarm = args.swarm
        network = docker.Network(
            name,
            name=layout.network,
            driver="overlay" if swarm else "bridge",
            attachable=bool(swarm) or None,  # a person's `docker run --network` on a node reaches the members
            ipam_configs=[docker.NetworkIpamConfigArgs(subnet=str(subnet), gateway=str(subnet[1]))],
            labels=[docker.NetworkLabelArgs(label=k, value=v) for k, v in sorted(layout.labels("network").items())],
            opts=pulumi.ResourceOptions(parent=self, provider=swarm.manager if swarm else None),
        )
        self.name, self.network_id = network.name, network.id
        self.register_outputs({"name": self.name})
