"""The Swarm a stack with pgha:engine swarm is placed on: a Docker provider per node (node 1, a manager, takes the
services, the overlay network, the secrets and configs; each node its members' volumes), and the component images
copied from this host's engine into the nodes that run them (NodeImage), since no registry serves them.
This code also runs in Pulumi's dynamic provider process."""

from __future__ import annotations

import time

import docker
import docker.errors
import pulumi
import pulumi.dynamic as dynamic
import pulumi_docker as docker_provider

from pgha.clients import docker_api
from pgha.model.layout import Layout

COPY_TIMEOUT_S = 900  # one image's `save` streamed into a node's `load`: hundreds of MB on two cores
REMOVE_DEADLINE_S = 60.0  # a removed service's tasks stop before their image can go
POLL_S = 1.0


def node_engine(url: str, timeout: float = COPY_TIMEOUT_S) -> docker.DockerClient:
    return docker.DockerClient(base_url=url, timeout=timeout, use_ssh_client=url.startswith("ssh://"))


def copy_image(tag: str, url: str) -> None:
    """Streams `tag` from this host's engine into the node's, unless the node has that image already."""
    local, node = docker_api.client(), node_engine(url)
    try:
        if node.images.get(tag).id == local.images.get(tag).id:
            return
    except docker.errors.ImageNotFound:
        pass
    # Saved by this tag (an image's first tag may be another, of the same content): the node gets the name it runs.
    node.images.load(local.api.get_image(tag))


def remove_image(tag: str, url: str) -> None:
    """Takes `tag` off the node, once no container uses it; one that another stack's tasks use stays."""
    node, deadline = node_engine(url, timeout=30), time.monotonic() + REMOVE_DEADLINE_S
    while True:
        try:
            node.images.remove(tag, noprune=False)
            return
        except docker.errors.ImageNotFound:
            return
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
            # Listed, not inspected: a stopping task's container may be gone by the time it would be.
            in_use = node.api.containers(all=True, filters={"ancestor": tag})
            if not in_use or time.monotonic() > deadline or _other_stack(in_use):
                return
        time.sleep(POLL_S)


def _other_stack(containers: list[dict]) -> bool:
    """A container still running the image that is no task being stopped: another stack's (or a person's)."""
    return any(c["State"] == "running" and "com.docker.swarm.task" not in c["Labels"] for c in containers)


class _NodeImageProvider(dynamic.ResourceProvider):
    def create(self, props: dict) -> dynamic.CreateResult:
        copy_image(props["image"], props["engine"])
        return dynamic.CreateResult(id_=f"{props['engine']}/{props['image']}", outs=props)

    def diff(self, _id: str, olds: dict, news: dict) -> dynamic.DiffResult:
        changed = olds.get("image") != news["image"] or olds.get("engine") != news["engine"]
        return dynamic.DiffResult(changes=changed, replaces=["image", "engine"] if changed else [])

    def delete(self, _id: str, props: dict) -> None:
        remove_image(props["image"], props["engine"])


class NodeImage(dynamic.Resource):
    """A component image on one Swarm node, copied from this host's engine, where the program builds it."""

    def __init__(self, name: str, image: pulumi.Input[str], engine: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(_NodeImageProvider(), name, {"image": image, "engine": engine}, opts)


class SwarmNodes:
    """The nodes of pgha:swarmNodes, each a Docker provider; node 1 is a manager."""

    def __init__(self, layout: Layout, parent: pulumi.Resource):
        self.urls = list(layout.settings.swarm_nodes)
        self.providers = [
            docker_provider.Provider(f"swarm-node-{i}", host=url, opts=pulumi.ResourceOptions(parent=parent))
            for i, url in enumerate(self.urls, 1)
        ]

    @property
    def manager(self) -> docker_provider.Provider:
        return self.providers[0]

    def provider(self, node: int) -> docker_provider.Provider:
        return self.providers[node - 1]

    def image_on(self, role: str, image: docker_provider.Image, node: int, parent: pulumi.Resource) -> NodeImage:
        """`image` copied into `node`; one per role and node (no two members of a role share a node)."""
        return NodeImage(
            f"{role}-image-node-{node}",
            image.image_name,
            self.urls[node - 1],
            pulumi.ResourceOptions(parent=parent, depends_on=[image]),
        )
