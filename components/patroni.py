"""PostgreSQL 17 nodes run by Patroni, each with its data on its own volume.

The members are chained in the rolling order, the replicas first and the leader last, each after the one before is
back (components/rolling_update.py): a change that replaces their containers (a new image, a changed configuration
file) so takes one member at a time, with a switchover before the leader's turn. The volumes stay."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.docker_args import PlacementArgs, Workload, member_container, upload, volume
from components.images import component_image
from components.password_rotation import password_files
from components.rolling_update import Handover, MemberBack
from pgha.model import render, repository
from pgha.model.layout import PATRONI_API_PORT, POSTGRES_STOP_GRACE_S, Member
from pgha.model.settings import Settings

CONFIG_DIR = "/etc/patroni/conf.d"  # Patroni merges its YAML files in name order (docker/patroni/Dockerfile)
SECRETS_FILE = f"{CONFIG_DIR}/20-secrets.yml"
BOOTSTRAP_SQL = "/etc/patroni/bootstrap.sql"
RESTORE_FILE = f"{CONFIG_DIR}/15-restore.yml"  # a restored stack's custom bootstrap
BACKUPS_OFF_FILE = f"{CONFIG_DIR}/12-backups-off.yml"  # pgha:backups false
PGBACKREST_FILE = "/etc/pgbackrest/pgbackrest.conf"
CIPHER_FILE = "/etc/pgbackrest/conf.d/cipher.conf"
# The uploads that hold passwords (or verifiers) are written at creation only: a later change is rolled out
# live by PasswordRotation instead of replacing the container. Indexes into `uploads` below.
PASSWORD_UPLOADS = ["uploads[1].content", "uploads[2].content"]
# Read only when a new cluster bootstraps: a running stack's containers are not replaced when it changes (a stack
# deployed again from its own backups, then with its usual configuration).
RESTORE_UPLOAD = "uploads[5].content"


@dataclass(kw_only=True)
class PatroniClusterArgs(PlacementArgs):
    passwords: pulumi.Output[render.Passwords]
    backup_key: pulumi.Output[str]  # the pgBackRest repository's cipher passphrase
    repository_volume: pulumi.Input[str] | None  # None without backups
    leader: str | None = None  # the member leading the running stack: the last to be replaced


def rolling_order(members: list[Member], leader: str | None) -> list[Member]:
    """The replicas by index, then the leader (the last member when there is none yet)."""
    return sorted(members, key=lambda m: m.name == leader) if leader else list(members)


def fingerprint(image_name: str, config: str) -> str:
    """What replaces a member's container when it changes (its image, its configuration files), as a digest."""
    return hashlib.sha256(f"{image_name}\n{config}".encode()).hexdigest()[:16]


class PatroniCluster(pulumi.ComponentResource):
    containers: list[Workload]
    api_urls: list[str]
    pgbackrest_config: str
    password_files: list[pulumi.Output[dict]]  # PasswordRotation's entries for these containers

    def __init__(self, name: str, args: PatroniClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pgha:patroni:PatroniCluster", name, None, opts)
        layout, settings = args.layout, args.layout.settings
        image = component_image("patroni", self, settings.node_image_revision)
        secrets = args.passwords.apply(
            lambda p: {SECRETS_FILE: render.patroni_secrets(p), BOOTSTRAP_SQL: render.bootstrap_sql(layout, p)}
        )
        members = layout.postgres()
        self.api_urls = layout.patroni_api_urls()
        self.pgbackrest_config = render.pgbackrest_config(layout)
        configs = {m.name: render.patroni_config(layout, m) for m in members}
        fingerprints = image.image_name.apply(
            lambda name: {m: fingerprint(name, text + self.pgbackrest_config) for m, text in configs.items()}
        )
        api_password: pulumi.Output[str] = pulumi.Output.secret(args.passwords.apply(lambda p: p.patroni_api))
        containers, files = {}, {}
        previous: list[pulumi.Resource] = []
        order = rolling_order(members, args.leader)
        for member in order:
            if member is order[-1]:
                previous = [
                    Handover(
                        "handover",
                        fingerprints,
                        self.api_urls,
                        api_password,
                        pulumi.ResourceOptions(parent=self, depends_on=previous),
                    )
                ]
            container = self._member(args, member, image, configs[member.name], secrets, previous)
            previous = [
                MemberBack(
                    f"{member.name}-back",
                    member.name,
                    container.id,
                    {"patroni": self.api_urls},
                    pulumi.ResourceOptions(parent=self, depends_on=[container]),
                )
            ]
            containers[member.name] = container
            files[member.name] = password_files(member.container, container, member.name, "patroni", secrets)
        self.containers = [containers[m.name] for m in members]
        self.password_files = [files[m.name] for m in members]
        self.register_outputs({"apiUrls": self.api_urls})

    def _member(
        self,
        args: PatroniClusterArgs,
        member: Member,
        image: docker.Image,
        config: str,
        secrets: pulumi.Output[dict],
        after: Sequence[pulumi.Resource],
    ) -> Workload:
        settings = args.layout.settings
        backup_key: pulumi.Output[str] = pulumi.Output.secret(args.backup_key)
        data = volume(args, member, self)
        volumes = [docker.ContainerVolumeArgs(volume_name=data.name, container_path="/var/lib/postgresql/data")]
        if settings.backups:
            volumes.append(
                docker.ContainerVolumeArgs(volume_name=args.repository_volume, container_path=render.REPOSITORY_PATH)
            )
        if render.restores_other_stack(settings):
            source = repository.volume_name(settings.restore_from)
            volumes.append(
                docker.ContainerVolumeArgs(
                    volume_name=source, container_path=render.SOURCE_REPOSITORY_PATH, read_only=True
                )
            )
        return member_container(
            args,
            member,
            image,
            self,
            # Without backups there is no restore file: ignoring a path that is not there draws a warning.
            ignore_changes=[*PASSWORD_UPLOADS, *([RESTORE_UPLOAD] if settings.backups else [])],
            after=after,
            destroy_grace_seconds=POSTGRES_STOP_GRACE_S,
            ports=[
                docker.ContainerPortArgs(
                    internal=PATRONI_API_PORT,
                    external=settings.patroni_api_port(member.index),
                    ip=settings.bind_address,
                )
            ],
            volumes=volumes,
            uploads=[
                upload(f"{CONFIG_DIR}/10-patroni.yml", config),
                upload(SECRETS_FILE, secrets.apply(lambda s: s[SECRETS_FILE])),
                upload(BOOTSTRAP_SQL, secrets.apply(lambda s: s[BOOTSTRAP_SQL])),
                *self._backup_uploads(settings, backup_key),
            ],
        )

    def _backup_uploads(self, settings: Settings, backup_key: pulumi.Output[str]) -> list[docker.ContainerUploadArgs]:
        """pgBackRest's configuration and key, and a restored stack's bootstrap; without backups, the Patroni file
        that turns the WAL archive off and makes replicas by base backup."""
        if not settings.backups:
            return [upload(BACKUPS_OFF_FILE, render.patroni_backups_off())]
        return [
            upload(PGBACKREST_FILE, self.pgbackrest_config),
            upload(CIPHER_FILE, backup_key.apply(render.pgbackrest_secrets)),
            upload(RESTORE_FILE, render.patroni_restore(settings)),
        ]
