"""The backups as a user runs them: a backup (`make backup`), the list of backups (`make backups`), and dropping a
destroyed stack's repository (`make drop-backups`). Every command runs on the stack's repository host, where the
scheduled backups run too: one container, so pgBackRest's own lock keeps backups and expiries one at a time."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import docker.errors

from pgha import names
from pgha.actions.backups import info, pgbackrest, repository_host, take
from pgha.clients import docker_api
from pgha.model import repository


def backup(stack: str, kind: str = "incr") -> dict:
    """Takes a backup on the repository host; returns it as `pgbackrest info` lists it (the newest), with
    `from_standby`: whether pgBackRest copied the files from a standby."""
    log = take(stack, kind)
    return info(repository_host(stack))["backup"][-1] | {"from_standby": "replay on the standby reached" in log}


def _running(name: str) -> bool:
    try:
        return docker_api.client().containers.get(name).attrs["State"]["Running"]
    except docker.errors.DockerException:
        return False


def listing(stack: str, cipher_pass: str | None) -> dict[int, dict]:
    """Every cluster's stanza in the stack's repository (`info`), by cluster number: from the repository host, else
    (the stack is gone) from its kept repository."""
    host = repository_host(stack)
    if _running(host):
        return repository.by_cluster(stack, json.loads(pgbackrest(host, "--output=json", "info", every_stanza=True)))
    if cipher_pass is None:
        raise RuntimeError(f"stack {stack} runs no repository host; reading its repository needs its key")
    return repository.read_stanzas(stack, cipher_pass)


def newest(clusters: dict[int, dict]) -> dict:
    """The newest cluster's stanza of a listing: the running cluster's, when the stack runs."""
    return clusters[max(clusters)] if clusters else {}


def _when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S+00")


def table(clusters: dict[int, dict]) -> str:
    """Per cluster, newest first: one line per backup (when it ended, type, sizes, the WAL it needs), then the
    archive's WAL range."""
    return "\n\n".join(_cluster_table(number, clusters[number]) for number in sorted(clusters, reverse=True))


def _cluster_table(number: int, stanza_info: dict) -> str:
    lines = [
        f"cluster {number} (stanza {stanza_info['name']})",
        "| label | type | started | ended | database size | in repository | WAL from | WAL to |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for b in stanza_info.get("backup", []):
        lines.append(
            f"| {b['label']} | {b['type']} | {_when(b['timestamp']['start'])} | {_when(b['timestamp']['stop'])} "
            f"| {_mb(b['info']['size'])} | {_mb(b['info']['repository']['delta'])} "
            f"| {b['archive']['start']} | {b['archive']['stop']} |"
        )
    for a in stanza_info.get("archive", []):
        lines.append(f"archive {a['id']}: WAL {a.get('min')} to {a.get('max')}")
    return "\n".join(lines)


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def drop(stack: str) -> None:
    """Removes a destroyed stack's repository: its backups and archived WAL are gone for good. RuntimeError when it
    cannot (the stack is still there, it has no repository, no engine answers), for `make drop-backups` to print."""
    try:
        if docker_api.labelled("containers", names.stack_label(stack)):
            raise RuntimeError(f"stack {stack} still has containers; destroy it first (make down STACK={stack})")
        docker_api.client().volumes.get(repository.volume_name(stack)).remove()
    except docker.errors.DockerException as exc:
        raise RuntimeError(str(exc)) from exc
