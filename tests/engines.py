"""A Docker engine of the Swarm lab, for the tests that look into its nodes: a client made for one block, closed
after it (a lab's nodes come and go between tests)."""

import contextlib
from collections.abc import Iterator

import docker


@contextlib.contextmanager
def engine(url: str) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=url, timeout=30)
    try:
        yield client
    finally:
        client.close()
