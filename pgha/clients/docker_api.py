"""The local Docker engine, through the Docker SDK for Python (`docker` on PyPI, python3-docker in Debian).

Callers use the SDK's own objects (`client().containers`, `.volumes`, `.networks`) and errors
(docker.errors.NotFound, APIError, DockerException); this module adds the client made once over the local
socket, the labelled listings the stacks are found by, and writing one file into a container.
"""

from __future__ import annotations

import functools
import io
import tarfile
import time

import docker
import docker.errors
from docker.models.resource import Model

DOCKER_SOCKET = "/var/run/docker.sock"
# A remote engine (a Swarm node's, over tcp) gets this long per request: a node that is down, paused or cut off must
# cost a status poll seconds, not the SDK's default minute.
REMOTE_TIMEOUT_S = 5


@functools.cache
def client() -> docker.DockerClient:
    """The engine's client, made on first use: it asks the engine its API version then, so an engine that does not
    answer shows here, as a DockerException naming the socket (a failed attempt is not cached)."""
    try:
        return docker.DockerClient(base_url="unix://" + DOCKER_SOCKET)
    except docker.errors.DockerException as exc:
        raise docker.errors.DockerException(f"Docker engine not reachable at {DOCKER_SOCKET}: {exc}") from exc


@functools.cache
def engine(url: str) -> docker.DockerClient:
    """The client of the engine at `url` (a Swarm node's `tcp://address:2375`), made on first use and kept. Making it
    asks the engine its API version: an engine that does not answer raises DockerException here, and is asked again
    next time (a failed attempt is not cached)."""
    return docker.DockerClient(base_url=url, timeout=REMOTE_TIMEOUT_S)


def labelled(kind: str, *labels: str) -> list[Model]:
    """Containers (all, running or not), volumes or networks carrying every label (`key` or `key=value`).
    Containers come as the engine lists them (sparse: their `attrs` hold Names, Labels, Ports, Image, State ...),
    without one inspection each."""
    engine, filters = client(), {"label": list(labels)}
    if kind == "containers":
        return engine.containers.list(all=True, sparse=True, filters=filters)
    if kind == "volumes":
        return engine.volumes.list(filters=filters)
    return engine.networks.list(filters=filters)


def put_file(container: str, path: str, content: str, uid: int, gid: int, mode: int) -> None:
    """Writes one file into a container, running or not, replacing what was there."""
    directory, name = path.rsplit("/", 1)
    data = content.encode()
    info = tarfile.TarInfo(name)
    info.size, info.uid, info.gid, info.mode, info.mtime = len(data), uid, gid, mode, time.time()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        tar.addfile(info, io.BytesIO(data))
    client().containers.get(container).put_archive(directory or "/", archive.getvalue())
