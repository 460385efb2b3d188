"""The stack's pgBackRest repository: a volume that outlives the stack, and, once the nodes run, its stanza and a
first full backup.

The volume is kept when the stack is destroyed (`retain_on_delete`): the backups and the WAL archive are what a
lost stack is restored from. `make drop-backups STACK=...` removes it. Every PostgreSQL node mounts it
(components/patroni.py); only the primary archives, so the nodes never write the same file.
"""
from __future__ import annotations

from typing import Optional

import pulumi
import pulumi.dynamic as dynamic
import pulumi_docker as docker

from pgha.model import repository
from pgha.model.layout import Layout
from pgha.ops import backups


class BackupRepository(pulumi.ComponentResource):
    volume_name: pulumi.Output[str]

    def __init__(self, name: str, layout: Layout, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("pgha:pgbackrest:BackupRepository", name, None, opts)
        # Labels read back the same in every stack that declares this volume again (a stack deployed anew after
        # `pulumi destroy`): a label change would replace it.
        labels = [docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted(layout.labels("pgbackrest").items())]
        volume = docker.Volume("repository", name=repository.volume_name(layout.settings.stack), labels=labels,
                               opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True))
        self.volume_name = volume.name
        self.register_outputs({"volumeName": self.volume_name})


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
    none. Done again when the nodes' pgBackRest configuration (`config`) changes; deleting it deletes nothing."""

    label: pulumi.Output[str]

    def __init__(self, name: str, stack: str, api_urls: list[str], config: str,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(_FirstBackupProvider(), name,
                         {"stack": stack, "api_urls": api_urls, "config": config, "label": None}, opts)
