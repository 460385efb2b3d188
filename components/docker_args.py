"""Small builders for the pulumi-docker arguments every component repeats, and the one place where a member is
placed: a container on the local engine, or with pgha:engine swarm a one-replica Swarm service pinned to its node
(the failover watcher: a global service, one task per node). Components say what a member needs (uploads, ports,
volumes, a command) once, as container arguments; member_container turns them into either."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

import pulumi
import pulumi_docker as docker

from components.swarm import SwarmNodes
from pgha import names
from pgha.clients import docker_api
from pgha.model import swarm
from pgha.model.layout import Layout, Member

# What a member runs as: a container on the local engine, a service on a Swarm.
Workload = docker.Container | docker.Service
RESTART_DELAY = "1s"  # Swarm's default waits 5 s before it starts a failed task again


@dataclass(kw_only=True)
class PlacementArgs:
    """Where a component's containers go: the stack's layout and network, after what they wait for; `swarm`, the
    Swarm's nodes when the stack is placed on one (None: the local engine)."""

    layout: Layout
    network_name: pulumi.Input[str]
    network_id: pulumi.Input[str]  # what a Swarm service names its network by (its name would replace it each time)
    swarm: SwarmNodes | None = None
    depends_on: Sequence[pulumi.Resource] = ()


class OnNetwork(TypedDict):
    """The placement every component shares, spread into its PlacementArgs (`**on_network`)."""

    layout: Layout
    network_name: pulumi.Input[str]
    network_id: pulumi.Input[str]
    swarm: SwarmNodes | None


def container_labels(labels: dict[str, str]) -> list[docker.ContainerLabelArgs]:
    return [docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(labels.items())]


def volume(args: PlacementArgs, member: Member, parent: pulumi.Resource) -> docker.Volume:
    """The member's data volume, on the engine that runs it: on a Swarm, its node's."""
    provider = args.swarm.provider(args.layout.node_of(member)) if args.swarm else None
    return docker.Volume(
        f"{member.name}-data",
        name=names.data_volume(args.layout.settings.stack, member.name),
        labels=[
            docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted(member_labels(args.layout, member).items())
        ],
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
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
) -> Workload:
    """A stack member's container: named, labelled, on the stack network at its fixed address,
    restarted after a crash. `specific` carries what only this component needs (uploads, ports ...);
    `ignore_changes` the input paths written at creation only; `after` the members of its role declared before
    it, so that a change replacing them all (a new image or configuration) takes one at a time."""
    if args.swarm:
        return swarm_service(args, args.swarm, member, image, parent, after, **specific)
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
) -> Workload:
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


def swarm_service(
    args: PlacementArgs,
    nodes: SwarmNodes,
    member: Member,
    image: docker.Image,
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource],
    uploads: Sequence[docker.ContainerUploadArgs] = (),
    ports: Sequence[docker.ContainerPortArgs] = (),
    volumes: Sequence[docker.ContainerVolumeArgs] = (),
    command: Sequence[str] | None = None,
    destroy_grace_seconds: int | None = None,
) -> docker.Service:
    """The member as a Swarm service on the manager: its files as Swarm configs, or secrets when their content is an
    Output (every such upload is made of the stack's passwords or keys), its ports published on its node (host mode:
    the node's address, no routing mesh), named on the overlay network by its short name (DNS round robin: the task's
    own address, no virtual IP)."""
    node = args.layout.node_of(member)
    on = [node] if node else list(range(1, len(nodes.urls) + 1))
    copies = [nodes.image_on(member.role, image, n, parent) for n in on]
    secrets, configs = _files(nodes, member, uploads, parent)
    labels = member_labels(args.layout, member)
    return docker.Service(
        member.name,
        name=member.container,
        labels=[docker.ServiceLabelArgs(label=k, value=v) for k, v in sorted(labels.items())],
        task_spec=docker.ServiceTaskSpecArgs(
            container_spec=docker.ServiceTaskSpecContainerSpecArgs(
                image=image.image_name,
                hostname=member.name,
                args=list(command) if command else None,
                labels=[
                    docker.ServiceTaskSpecContainerSpecLabelArgs(label=k, value=v) for k, v in sorted(labels.items())
                ],
                mounts=[_mount(v) for v in volumes],
                secrets=secrets,
                configs=configs,
                stop_grace_period=f"{destroy_grace_seconds}s" if destroy_grace_seconds else None,
            ),
            placement=docker.ServiceTaskSpecPlacementArgs(constraints=[swarm.constraint(node)]) if node else None,
            networks_advanceds=[docker.ServiceTaskSpecNetworksAdvancedArgs(id=args.network_id, aliases=[member.name])],
            restart_policy=docker.ServiceTaskSpecRestartPolicyArgs(condition="any", delay=RESTART_DELAY),
        ),
        mode=docker.ServiceModeArgs(global_=True)
        if not node
        else docker.ServiceModeArgs(replicated=docker.ServiceModeReplicatedArgs(replicas=1)),
        endpoint_spec=docker.ServiceEndpointSpecArgs(
            mode="dnsrr",
            ports=[
                docker.ServiceEndpointSpecPortArgs(
                    target_port=pulumi.get(p, "internal"), published_port=pulumi.get(p, "external"), publish_mode="host"
                )
                for p in ports
            ],
        ),
        opts=pulumi.ResourceOptions(
            parent=parent, provider=nodes.manager, depends_on=[*args.depends_on, *after, *copies]
        ),
    )


def _mount(volume: docker.ContainerVolumeArgs) -> docker.ServiceTaskSpecContainerSpecMountArgs:
    source = pulumi.get(volume, "volume_name")
    return docker.ServiceTaskSpecContainerSpecMountArgs(
        target=pulumi.get(volume, "container_path"),
        source=source or pulumi.get(volume, "host_path"),
        type="volume" if source else "bind",
        read_only=pulumi.get(volume, "read_only"),
    )


def _files(
    nodes: SwarmNodes, member: Member, uploads: Sequence[docker.ContainerUploadArgs], parent: pulumi.Resource
) -> tuple[list[docker.ServiceTaskSpecContainerSpecSecretArgs], list[docker.ServiceTaskSpecContainerSpecConfigArgs]]:
    secrets, configs = [], []
    for upload_args in uploads:
        path, content = pulumi.get(upload_args, "file"), pulumi.get(upload_args, "content")
        stem = re.sub(r"[^A-Za-z0-9-]", "-", path.rsplit("/", 1)[-1])
        if isinstance(content, pulumi.Output):
            # Kept as created, as a container's password files are: a Swarm secret cannot change in place.
            secret = docker.Secret(
                f"{member.name}-{stem}",
                name=f"{member.container}-{stem}",
                data=content.apply(_base64),
                opts=pulumi.ResourceOptions(parent=parent, provider=nodes.manager, ignore_changes=["data"]),
            )
            secrets.append(
                docker.ServiceTaskSpecContainerSpecSecretArgs(
                    secret_id=secret.id, secret_name=secret.name, file_name=path, file_mode=0o444
                )
            )
        else:
            # Named by its content: a changed file is a new config, which the service moves to, the old one removed.
            digest = hashlib.sha256(content.encode()).hexdigest()[:10]
            config = docker.ServiceConfig(
                f"{member.name}-{stem}",
                name=f"{member.container}-{stem}-{digest}",
                data=_base64(content),
                opts=pulumi.ResourceOptions(parent=parent, provider=nodes.manager),
            )
            configs.append(
                docker.ServiceTaskSpecContainerSpecConfigArgs(
                    config_id=config.id, config_name=config.name, file_name=path, file_mode=0o444
                )
            )
    return secrets, configs


def _base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
