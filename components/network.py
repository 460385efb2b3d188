"""The stack's own network, on its own subnet: a bridge on the local engine, where members keep fixed addresses; on a
Swarm an attachable overlay across the nodes, made through the manager.

How `pulumi destroy` ends a bridge (pgha/actions/networks.py): Docker 20.10 miscounts a network's endpoints when they
go at the same moment, and then refuses to remove it. StopInTurn, after every member, is deleted first: it stops the
members one after the other. Pulumi never removes the bridge itself (retain_on_delete): NetworkRelease, which every
member attaches through, is deleted after the last member and removes it, or warns in one line what the engine keeps
and how to clear it, and the destroy still ends well. The stack's network already on the engine (its own, or one such
a destroy left) is adopted rather than created, so the next `pulumi up` reuses it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi.dynamic as dynamic
import pulumi_docker as docker

from components.swarm import SwarmNodes
from pgha.actions import networks
from pgha.model.layout import Layout


@dataclass
class NetworkArgs:
    layout: Layout
    swarm: SwarmNodes | None = None
    existing_id: str | None = None  # the stack's network already on the local engine: adopted (Pulumi's import)


class Network(pulumi.ComponentResource):
    name: pulumi.Output[str]  # what members attach by: on the local engine, NetworkRelease's
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
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=swarm.manager if swarm else None,
                retain_on_delete=None if swarm else True,
                import_=None if swarm else args.existing_id,
            ),
        )
        if swarm:
            self.name, self.network_id = network.name, network.id
        else:
            release = NetworkRelease(
                f"{name}-release", network.id, network.name, layout.settings.stack, pulumi.ResourceOptions(parent=self)
            )
            self.name, self.network_id = release.name, release.network_id
        self.register_outputs({"name": self.name})


INPUTS = ("network_id", "name", "stack")


class _ReleaseProvider(dynamic.ResourceProvider):
    def create(self, props: dict) -> dynamic.CreateResult:
        return dynamic.CreateResult(id_=props["network_id"], outs=props)

    def diff(self, _id: str, olds: dict, news: dict) -> dynamic.DiffResult:
        changed = [key for key in INPUTS if olds.get(key) != news.get(key)]
        return dynamic.DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)

    def delete(self, _id: str, props: dict) -> None:
        left = networks.release(props["network_id"], props["name"], props["stack"])
        if left:
            pulumi.log.warn(left)


class _StopInTurnProvider(dynamic.ResourceProvider):
    def create(self, props: dict) -> dynamic.CreateResult:
        return dynamic.CreateResult(id_=props["stack"], outs=props)

    def diff(self, _id: str, olds: dict, news: dict) -> dynamic.DiffResult:
        changed = olds.get("stack") != news.get("stack")
        return dynamic.DiffResult(changes=changed, replaces=["stack"] if changed else [], delete_before_replace=False)

    def delete(self, _id: str, props: dict) -> None:
        networks.stop_in_turn(props["stack"])


class StopInTurn(dynamic.Resource):
    """After every member (opts.depends_on the components that hold them): created with nothing to do; deleted first
    by `pulumi destroy`, it stops the stack's containers one after the other, so that their endpoints leave the network
    one at a time (pgha/actions/networks.py). Pulumi then removes containers already stopped."""

    def __init__(self, name: str, stack: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(_StopInTurnProvider(), name, {"stack": stack}, opts)


class NetworkRelease(dynamic.Resource):
    """Stands between the network and its members: created with nothing to do; deleted after every member, it removes
    the network (pgha/actions/networks.py), or warns in one line what the engine keeps and how to clear it."""

    network_id: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        network_id: pulumi.Input[str],
        network_name: pulumi.Input[str],
        stack: str,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            _ReleaseProvider(), name, {"network_id": network_id, "name": network_name, "stack": stack}, opts
        )
