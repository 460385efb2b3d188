"""The stack's pgBackRest repository: a volume that outlives the stack, the repository host that takes the
backups on schedule, and, once the nodes run, the stanza and a first full backup.

The volume is kept when the stack is destroyed (`retain_on_delete`): the backups and the WAL archive are what a
lost stack is restored from. `make drop-backups STACK=...` removes it. Every PostgreSQL node mounts it too
(components/patroni.py): only the primary archives, so the nodes never write the same file. Backups run only on the
repository host (docker/pgbackrest), from a standby when one streams, reaching the nodes through `docker exec`:
it holds the Docker socket, as the failover watcher does.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi.dynamic as dynamic
import pulumi_docker as docker

from components.docker_args import PlacementArgs, Workload, docker_socket, member_container, upload
from components.images import component_image
from pgha import names
from pgha.actions import backups
from pgha.model import render, repository
from pgha.model.layout import Layout


class BackupRepository(pulumi.ComponentResource):
    """The repository's volume: before the nodes, which mount it."""

    volume_name: pulumi.Output[str]

    def __init__(self, name: str, layout: Layout, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pgha:pgbackrest:BackupRepository", name, None, opts)
        # Labels read back the same in every stack that declares this volume again (a stack deployed anew after
        # `pulumi destroy`): a label change would replace it.
        labels = [docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted(layout.labels("pgbackrest").items())]
        volume = docker.Volume(
            "repository",
            name=repository.volume_name(layout.settings.stack),
            labels=labels,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        self.volume_name = volume.name
        self.register_outputs({"volumeName": self.volume_name})


@dataclass(kw_only=True)
class RepositoryHostArgs(PlacementArgs):
    """`depends_on`: the PostgreSQL members. The host's image is built after them too: a new node image revision
    rebuilds this one as well, and that build must not load the machine while the members roll."""

    volume_name: pulumi.Input[str]
    backup_key: pulumi.Output[str]  # the repository's cipher passphrase
    docker_group: int  # the group of the engine's socket


class RepositoryHost(pulumi.ComponentResource):
    container: Workload

    def __init__(self, name: str, args: RepositoryHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pgha:pgbackrest:RepositoryHost", name, None, opts)
        layout, settings = args.layout, args.layout.settings
        schedule = [arg for kind, every in sorted(settings.backup_schedule.items()) for arg in (f"--{kind}", every)]
        backup_key: pulumi.Output[str] = pulumi.Output.secret(args.backup_key)
        self.container = member_container(
            args,
            layout.pgbackrest(),
            component_image("pgbackrest", self, settings.node_image_revision, after=args.depends_on),
            self,
            command=["--stanza", settings.stanza, *schedule],
            envs=[
                f"PGHA_CONTAINER_PREFIX={settings.prefix}-",
                f"{names.STANZA_ENV}={settings.stanza}",
                *([f"{names.RESTORED_STANZA_ENV}={settings.restore_stanza}"] if settings.restore_from else []),
            ],
            # pgBackRest runs as postgres; the socket's group lets it reach the nodes through `docker exec`.
            group_adds=[str(args.docker_group)],
            volumes=[
                docker.ContainerVolumeArgs(volume_name=args.volume_name, container_path=render.REPOSITORY_PATH),
                docker_socket(),
            ],
            uploads=[
                upload("/etc/pgbackrest/pgbackrest.conf", render.pgbackrest_host_config(layout)),
                upload("/etc/pgbackrest/conf.d/cipher.conf", backup_key.apply(render.pgbackrest_secrets)),
            ],
        )
        self.register_outputs({})


class _FirstBackupProvider(dynamic.ResourceProvider):
    def create(self, props: dict) -> dynamic.CreateResult:
        label = backups.initialize(props["stack"], props["api_urls"])
        return dynamic.CreateResult(id_=props["stack"], outs=props | {"label": label})

    def diff(self, _id: str, olds: dict, news: dict) -> dynamic.DiffResult:
        inputs = lambda props: {k: v for k, v in props.items() if k != "label"}  # noqa: E731
        changed = inputs(olds) != inputs(news)
        return dynamic.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict, news: dict) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(outs=news | {"label": backups.initialize(news["stack"], news["api_urls"])})


class FirstBackup(dynamic.Resource):
    """The stanza created and checked end to end (WAL reaches the repository), and a full backup when it holds
    none, taken on the repository host. Done again when the nodes' or the host's pgBackRest configuration
    (`config`) changes; deleting it deletes nothing."""

    label: pulumi.Output[str]

    def __init__(
        self, name: str, stack: str, api_urls: list[str], config: str, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(
            _FirstBackupProvider(), name, {"stack": stack, "api_urls": api_urls, "config": config, "label": None}, opts
        )
