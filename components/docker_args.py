"""Small builders for the pulumi-docker arguments every component repeats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

import pulumi
import pulumi_docker as docker

from pgha import docker_api
from pgha.model.layout import Layout, Member


@dataclass(kw_only=True)
class PlacementArgs:
    """Where a component's containers go: the stack's layout and network, after what they wait for."""

    layout: Layout
    network_name: pulumi.Input[str]
    depends_on: Sequence[pulumi.Resource] = ()


class OnNetwork(TypedDict):
    """The placement every component shares, spread into its PlacementArgs (`**on_network`)."""

    layout: Layout
    network_name: pulumi.Input[str]


def container_labels(labels: dict[str, str]) -> list[docker.ContainerLabelArgs]:
    return [docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(labels.items())]


def volume(layout: Layout, member: Member, parent: pulumi.Resource) -> docker.Volume:
    return docker.Volume(
        f"{member.name}-data",
        name=f"{member.container}-data",
        labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted(member_labels(layout, member).items())],
        opts=pulumi.ResourceOptions(parent=parent),
    )


def member_labels(layout: Layout, member: Member) -> dict[str, str]:
    return layout.labels(member.role, member.name if member.role == "postgres" else None)


def network_attachment(network_name: pulumi.Input[str], member: Member) -> docker.ContainerNetworksAdvancedArgs:
    return docker.ContainerNetworksAdvancedArgs(name=network_name, ipv4_address=member.address, aliases=[member.name])


def docker_socket(read_only: bool = False) -> docker.ContainerVolumeArgs:
    """The local engine's socket, for a member that talks to the engine (the failover watcher, the repository host)."""
    return docker.ContainerVolumeArgs(
        host_path=docker_api.DOCKER_SOCKET, container_path=docker_api.DOCKER_SOCKET, read_only=read_only
    )


def upload(path: str, content: pulumi.Input[str]) -> docker.ContainerUploadArgs:
    return docker.ContainerUploadArgs(file=path, content=content)


def member_container(
    args: PlacementArgs,
    member: Member,
    image: docker.Image,
    parent: pulumi.Resource,
    ignore_changes: Sequence[str] = (),
    after: Sequence[pulumi.Resource] = (),
    **specific,
) -> docker.Container:
    """A stack member's container: named, labelled, on the stack network at its fixed address,
    restarted after a crash. `specific` carries what only this component needs (uploads, ports ...);
    `ignore_changes` the input paths written at creation only; `after` the members of its role declared before
    it, so that a change replacing them all (a new image or configuration) takes one at a time."""
    return docker.Container(
        member.name,
        name=member.container,
        hostname=member.name,
        image=image.image_name,
        restart="unless-stopped",
        labels=container_labels(member_labels(args.layout, member)),
        networks_advanced=[network_attachment(args.network_name, member)],
        opts=pulumi.ResourceOptions(
            parent=parent, depends_on=[*args.depends_on, *after], ignore_changes=list(ignore_changes)
        ),
        **specific,
    )


def exporter_container(
    args: PlacementArgs,
    member: Member,
    image: docker.Image,
    parent: pulumi.Resource,
    password_file: str,
    password: pulumi.Output[str],
    **specific,
) -> docker.Container:
    """An exporter's container, its password a file written at creation only: PasswordRotation rolls a new one out
    (and restarts the exporter, which reads it at start). `password_file` is its first upload."""
    return member_container(
        args,
        member,
        image,
        parent,
        ignore_changes=["uploads[0].content"],
        uploads=[upload(password_file, password)],
        **specific,
    )
