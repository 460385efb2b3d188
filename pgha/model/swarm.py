"""Where a stack's members go on a Docker Swarm (pgha:engine swarm): one node each, by the node label
`pgha.node=<N>` that placement constraints name; and how the nodes of a `make swarm-lab` lab are found.

Plain data in, plain data out; pgha/model/host.py finds a lab's nodes on this host."""

from __future__ import annotations

from urllib.parse import urlsplit

# The Swarm node label a member is pinned by: node.labels.pgha.node==2. A real Swarm's nodes get it with
# `docker node update --label-add pgha.node=2 <node>`; the lab sets it itself.
NODE_LABEL = "pgha.node"
# What a lab (pgha/ops/lab/swarm_lab.py) labels its node containers with: the lab's name, the node's number.
LAB_LABEL = "pgha.swarm-lab"
LAB_NODE_LABEL = "pgha.swarm-lab.node"
LAB_ENGINE_PORT = 2375  # each lab node's engine, on the lab network


def node_host(url: str) -> str:
    """The host of a node's engine URL: also where the ports the node publishes answer."""
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"no host in {url!r}")
    return host


def constraint(node: int) -> str:
    return f"node.labels.{NODE_LABEL}=={node}"


def etcd_node(index: int, nodes: int) -> int:
    return (index - 1) % nodes + 1


def postgres_node(index: int) -> int:
    """A PostgreSQL member and its PgBouncer share node `index`: the node pool is that node's."""
    return index


def haproxy_node(index: int, nodes: int) -> int:
    """From the last node down: the entry points sit apart from postgres-1 (the first leader) while nodes allow."""
    return nodes - (index - 1) % nodes
