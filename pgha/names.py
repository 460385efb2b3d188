"""The names of everything pgha makes on an engine, in one place: a stack's network, containers and Swarm services,
volumes, pgBackRest stanza, labels, images; and a member's index read back from its name. Every other module asks
here; none spells a name itself."""

from __future__ import annotations

PREFIX = "pgha"
BASE_IMAGE = f"{PREFIX}-base:trixie"

# Labels on every container, service and volume of a stack: what `docker ps --filter` and the watchers select by.
STACK_LABEL = f"{PREFIX}.stack"
ROLE_LABEL = f"{PREFIX}.role"
MEMBER_LABEL = f"{PREFIX}.member"


def stack_prefix(stack: str) -> str:
    """Every Docker object of the stack is named `<stack_prefix>-...`; its network is named `<stack_prefix>`."""
    return f"{PREFIX}-{stack}"


def network(stack: str) -> str:
    return stack_prefix(stack)


def container(stack: str, member: str) -> str:
    """A member's container on one engine, and its Swarm service: pgha-dev-postgres-1."""
    return f"{stack_prefix(stack)}-{member}"


def member_of(stack: str, container_name: str) -> str | None:
    """The member a container of the stack is (pgha-dev-postgres-1 -> postgres-1), None for another's."""
    prefix = f"{stack_prefix(stack)}-"
    name = container_name.lstrip("/")
    return name[len(prefix) :] if name.startswith(prefix) else None


def member(role: str, index: int) -> str:
    """postgres, 2 -> postgres-2; index 0: a role with one member (prometheus)."""
    return f"{role}-{index}" if index else role


def member_index(name: str) -> int:
    """postgres-2 -> 2: a member's number, counted from 1."""
    return int(name.rsplit("-", 1)[1])


def role_of(name: str) -> str:
    """postgres-2 -> postgres: the role label its container carries."""
    return name.rsplit("-", 1)[0]


def stack_label(stack: str) -> str:
    """The label filter that selects a stack's objects."""
    return f"{STACK_LABEL}={stack}"


def role_label(role: str) -> str:
    return f"{ROLE_LABEL}={role}"


def data_volume(stack: str, member_name: str) -> str:
    return f"{container(stack, member_name)}-data"


def docker_proxy_volume(stack: str) -> str:
    """Where the stack's Docker API proxy puts its socket, for the failover watcher (components/docker_proxy.py)."""
    return f"{stack_prefix(stack)}-docker-proxy"


def backup_volume(stack: str) -> str:
    """The stack's pgBackRest repository: a volume that outlives the stack."""
    return f"{stack_prefix(stack)}-backups"


def stanza(stack: str, cluster: int = 1) -> str:
    """The pgBackRest stanza of the stack's `cluster`-th cluster: each deploy after a destroy starts a new cluster,
    whose backups go to a stanza of its own beside the earlier ones' (pgha-dev, pgha-dev-2, ...)."""
    return stack_prefix(stack) + (f"-{cluster}" if cluster > 1 else "")


# In the environment of a stack's repository host and nodes: the stanza pgBackRest runs on there (pgBackRest reads
# it, so `docker exec ... pgbackrest backup` needs no --stanza), and the one the stack was restored from.
STANZA_ENV = "PGBACKREST_STANZA"
RESTORED_STANZA_ENV = "PGHA_RESTORED_STANZA"


def cluster_of(stack: str, stanza_name: str) -> int | None:
    """The number of the cluster a stanza of the stack's repository belongs to, None for another name."""
    base = stack_prefix(stack)
    if stanza_name == base:
        return 1
    number = stanza_name.removeprefix(f"{base}-")
    return int(number) if number != stanza_name and number.isdigit() and int(number) > 1 else None


def image(component: str, digest: str) -> str:
    return f"{PREFIX}-{component}:{digest}"


def check_image(component: str, digest: str) -> str:
    return f"{PREFIX}-check-{component}:{digest}"


def swarm_lab_network(lab: str) -> str:
    return f"{PREFIX}-swarm-{lab}"


def swarm_lab_node(lab: str, index: int) -> str:
    return f"{swarm_lab_network(lab)}-node-{index}"
