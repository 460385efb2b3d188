"""Where everything of a stack lives: Docker names, static addresses, labels.

Static addresses on a stack-owned subnet let HAProxy send its health checks to a node's Patroni
while the traffic goes to that node's PgBouncer (HAProxy's `addr` takes an address, not a name).
On a Swarm (pgha:engine swarm) a task's address changes when it restarts: members are reached by name (their alias
on the stack's overlay network), each runs on the node pgha/model/swarm.py gives it, and what the stack publishes
answers on that node's host.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pgha import names
from pgha.model import swarm
from pgha.model.settings import HAPROXY_PORT_STEP, MAX_POSTGRES_NODES, Settings

PATRONI_API_PORT = 8008
# Patroni stops PostgreSQL with a fast shutdown when its container is stopped: the time it gets before SIGKILL.
POSTGRES_STOP_GRACE_S = 30
POSTGRES_PORT = 5432
# A node's PgBouncer pools: the node pool (its own PostgreSQL) and the leader pool (whichever node leads).
PGBOUNCER_PORT, PGBOUNCER_LEADER_PORT = 6432, 6433
ETCD_CLIENT_PORT = 2379
# Where the failover watcher serves its Prometheus metrics (docker/failover-watcher/watcher.py).
FAILOVER_WATCHER_METRICS_PORT = 9108
# Inside the Docker API proxy and the failover watcher: where the engine's socket is mounted in the proxy, and the
# directory (a volume both mount) where the proxy's own socket is (components/docker_proxy.py).
ENGINE_SOCKET = "/var/run/docker.sock"
DOCKER_PROXY_DIR = "/run/docker-proxy"
DOCKER_PROXY_SOCKET = f"{DOCKER_PROXY_DIR}/docker.sock"
# HAProxy's ports inside its containers; instance i publishes them on rwPort, roPort and statsPort + 10 * (i - 1).
HAPROXY_RW_PORT, HAPROXY_RO_PORT, HAPROXY_STATS_PORT = 5000, 5001, 7000
PATRONI_NAMESPACE = "/pgha/"
# Where each scraped member serves its metrics (etcd on its client port, HAProxy on its stats port).
PROMETHEUS_PORT = 9090
POSTGRES_EXPORTER_PORT = 9187
PGBOUNCER_EXPORTER_PORT = 9127
# The two pools of a node's PgBouncer, each watched by an exporter of its own: name -> its port.
PGBOUNCER_POOLS = {"node": PGBOUNCER_PORT, "leader": PGBOUNCER_LEADER_PORT}
# The bench's client on the stack network (pgha/ops/bench): a fixed address, between the nodes (21 to 29) and the
# PgBouncers (41 on), so that pg_hba can admit it to the nodes directly, for the bench's direct path.
BENCH_CLIENT_OFFSET = 30
# The stack key each published port derives from, by role and port inside the container, with the step between
# members (member i publishes the key's port plus step * (i - 1)): a deployed stack's ports are read back by it.
PUBLISHED_KEYS = {
    "haproxy": (
        {HAPROXY_RW_PORT: "rwPort", HAPROXY_RO_PORT: "roPort", HAPROXY_STATS_PORT: "statsPort"},
        HAPROXY_PORT_STEP,
    ),
    "postgres": ({PATRONI_API_PORT: "patroniPort"}, 1),
    "prometheus": ({PROMETHEUS_PORT: "prometheusPort"}, 0),
}


def subnet_address(subnet: str, offset: int) -> str:
    """The address `offset` places into the stack's subnet: where a member with a fixed address lives."""
    return str(ipaddress.ip_network(subnet)[offset])


@dataclass(frozen=True)
class Member:
    role: str  # etcd | postgres | pgbouncer | haproxy | prometheus | postgres-exporter | pgbouncer-*-exporter ...
    index: int  # 1-based; 0 for the failover watcher, the one member of its role
    name: str  # short name, also the Patroni member / etcd member name
    container: str  # Docker container name
    address: str


@dataclass(frozen=True)
class Layout:
    settings: Settings

    @property
    def network(self) -> str:
        return self.settings.prefix

    @property
    def scope(self) -> str:
        """Patroni cluster name (its key prefix in etcd)."""
        return self.settings.prefix

    def _address(self, offset: int) -> str:
        return subnet_address(self.settings.subnet, offset)

    @property
    def on_swarm(self) -> bool:
        return self.settings.engine == "swarm"

    def _member(self, role: str, index: int, offset: int) -> Member:
        name = names.member(role, index)
        address = name if self.on_swarm else self._address(offset + index)
        return Member(role, index, name, names.container(self.settings.stack, name), address)

    def node_of(self, member: Member) -> int:
        """The Swarm node a member is pinned to (1-based); 0 for the failover watcher, which runs on every node."""
        nodes = len(self.settings.swarm_nodes)
        if member.role == "etcd":
            return swarm.etcd_node(member.index, nodes)
        if member.role in ("postgres", "pgbouncer"):
            return swarm.postgres_node(member.index)
        if member.role == "haproxy":
            return swarm.haproxy_node(member.index, nodes)
        return 0

    def host_of(self, member: Member) -> str:
        """Where the ports a member publishes answer: the bind address, or on a Swarm its node's host."""
        if not self.on_swarm:
            return self.settings.bind_address
        return swarm.node_host(self.settings.swarm_nodes[self.node_of(member) - 1])

    def patroni_api_urls(self) -> list[str]:
        settings = self.settings
        return [f"http://{self.host_of(m)}:{settings.patroni_api_port(m.index)}" for m in self.postgres()]

    def etcd(self) -> list[Member]:
        return [self._member("etcd", i, 10) for i in range(1, self.settings.etcd_nodes + 1)]

    def postgres(self, count: int | None = None) -> list[Member]:
        return [self._member("postgres", i, 20) for i in range(1, (count or self.settings.postgres_nodes) + 1)]

    def pgbouncer(self, count: int | None = None) -> list[Member]:
        return [self._member("pgbouncer", i, 40) for i in range(1, (count or self.settings.postgres_nodes) + 1)]

    def node_slots(self) -> list[tuple[Member, Member]]:
        """(postgres, pgbouncer) for every node the stack could ever have. HAProxy lists them all, so
        scaling in or out never changes its configuration, and it is never restarted for that."""
        return list(zip(self.postgres(MAX_POSTGRES_NODES), self.pgbouncer(MAX_POSTGRES_NODES), strict=True))

    def haproxy(self) -> list[Member]:
        """The HAProxy instances: addresses 5 to 7, between the failover watcher (3) and etcd (11 on)."""
        return [self._member("haproxy", i, 4) for i in range(1, self.settings.haproxy_nodes + 1)]

    def client_endpoints(self, key: str) -> list[tuple[str, int]]:
        """(host, port) of `key` (rwPort, roPort or statsPort) on every HAProxy instance, in order."""
        return [(self.host_of(m), self.settings.haproxy_ports(m.index)[key]) for m in self.haproxy()]

    def failover_watcher(self) -> Member:
        return self._member("failover-watcher", 0, 3)

    def docker_proxy(self) -> Member:
        """The Docker API proxy in front of the engine's socket, for the failover watcher (3): address 4."""
        return self._member("docker-proxy", 0, 4)

    def pgbackrest(self) -> Member:
        """The repository host, between HAProxy (5 to 7) and etcd (11 on)."""
        return self._member("pgbackrest", 0, 8)

    def prometheus(self) -> Member:
        return self._member("prometheus", 0, 9)

    def postgres_exporters(self) -> list[Member]:
        """One per node, after the PgBouncers (41 to 49): 51 to 59."""
        return [self.postgres_exporter_of(p) for p in self.postgres()]

    def postgres_exporter_of(self, postgres: Member) -> Member:
        """The exporter that watches this node, whether the stack runs it or not."""
        return self._member("postgres-exporter", postgres.index, 50)

    def bench_client(self) -> Member:
        return self._member("bench-net", 0, BENCH_CLIENT_OFFSET)

    def pgbouncer_exporters(self, pool: str) -> list[Member]:
        """One per node and pool: 61 to 69 for the node pools, 71 to 79 for the leader pools (a /25 at least)."""
        offset = 60 + 10 * list(PGBOUNCER_POOLS).index(pool)
        return [
            self._member(f"pgbouncer-{pool}-exporter", i, offset) for i in range(1, self.settings.postgres_nodes + 1)
        ]

    @property
    def lock_prefix(self) -> str:
        """Where Patroni keeps this cluster's keys in etcd (leader, members/<name>, config ...)."""
        return f"{PATRONI_NAMESPACE}{self.scope}"

    def labels(self, role: str, member: str | None = None) -> dict[str, str]:
        labels = {names.STACK_LABEL: self.settings.stack, names.ROLE_LABEL: role}
        if member:
            labels[names.MEMBER_LABEL] = member
        return labels
