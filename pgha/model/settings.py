"""Stack settings: the `pgha` config namespace, parsed and checked before any resource is declared.

Everything here is plain data in, plain data out, so it is unit-tested without Pulumi or Docker.
Host facts (which addresses are local, which ports are taken) come in as arguments.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from pgha import names
from pgha.model import durability

NAMESPACE = "pgha"
SYNCHRONOUS_MODES = ("off", "on", "quorum")
ENGINES = ("docker", "swarm")
PASSWORD_KEYS = (
    "superuserPassword",
    "replicationPassword",
    "appPassword",
    "pgbouncerAuthPassword",
    "patroniApiPassword",
    "monitorPassword",
)
SUBNET_POOL = ipaddress.IPv4Network("10.213.0.0/16")
PRIVATE_NETWORKS = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
MIN_PASSWORD_LENGTH = 12
# The key of the stack's pgBackRest repository: never generated, since the backups outlive the stack (and a
# restore into another stack reads them with it). `make up` sets this machine's (pgha/model/stacks.py).
BACKUP_KEY = "backupCipherPass"
MIN_BACKUP_KEY_LENGTH = 20
RESTORE_POINT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")
MAX_POSTGRES_NODES = 9
MAX_HAPROXY_NODES = 3
HAPROXY_PORT_STEP = 10  # HAProxy instance i publishes rwPort, roPort and statsPort plus 10 * (i - 1)
# The keys of the ports a stack publishes (each HAProxy instance and node derives its own from them).
PORT_KEYS = ("rwPort", "roPort", "statsPort", "patroniPort", "prometheusPort")
# A stack that sets no port takes a block of them: block 0 holds the standard ports (the options' defaults), block k
# (1 to 9) these plus 100 k, as the experiment stacks (Pulumi.*.yaml) set them. No two blocks share a port.
PORT_BLOCKS = 10
STANDARD_PORTS = {"rwPort": 5000, "roPort": 5001, "statsPort": 7000, "patroniPort": 8008, "prometheusPort": 9090}
PORT_BLOCK_BASE = {"rwPort": 5000, "roPort": 5001, "statsPort": 7000, "patroniPort": 8000, "prometheusPort": 9000}
PORT_BLOCK_STEP = 100
STACK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


class SettingsError(ValueError):
    """Bad stack configuration; each line of the message names a key, its value and what is allowed."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


T = TypeVar("T")


@dataclass(frozen=True)
class Option(Generic[T]):
    """A key of the namespace: `parse` reads its text, `valid` checks what it read."""

    key: str
    default: T | None  # None: no default (subnet's is the stack's, given by parse())
    parse: Callable[[str], T]
    valid: Callable[[T], bool]
    allowed: str

    def value(self, text: str | None) -> T | None:
        """What `text` sets (the default when it is None); None when that is not allowed."""
        try:
            value = self.default if text is None else self.parse(text)
        except ValueError:
            return None
        return value if value is not None and self.valid(value) else None


def _int(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", str(text).strip()):
        raise ValueError
    return int(text)


def _bool(text: str) -> bool:
    words = {"true": True, "false": False}
    if str(text).strip().lower() not in words:
        raise ValueError
    return words[str(text).strip().lower()]


def _parameters(text: str) -> dict[str, str]:
    """A map of PostgreSQL parameter names to values (Pulumi hands an object over as JSON)."""
    value = json.loads(text) if isinstance(text, str) else text
    if not isinstance(value, dict) or not all(isinstance(v, (str, int, float, bool)) for v in value.values()):
        raise ValueError
    spelled = lambda v: ("on" if v else "off") if isinstance(v, bool) else str(v)  # noqa: E731
    return {str(k): spelled(v) for k, v in value.items()}


BACKUP_TYPES = ("full", "diff", "incr")
BACKUP_INTERVAL = re.compile(r"^[1-9][0-9]*[mhd]$")


def _schedule(text: str) -> dict[str, str]:
    """Backup type -> interval (`30m`, `12h`, `7d`); Pulumi hands an object over as JSON."""
    value = json.loads(text) if isinstance(text, str) else text
    if not isinstance(value, dict) or not all(
        k in BACKUP_TYPES and BACKUP_INTERVAL.match(str(v)) for k, v in value.items()
    ):
        raise ValueError
    return {k: str(v) for k, v in value.items()}


def _str(text: str) -> str:
    return str(text).strip()


def _engine_urls(text: str) -> tuple[str, ...]:
    """A list of Docker engine URLs (Pulumi hands a YAML list over as JSON), or one comma-separated string."""
    value = json.loads(text) if isinstance(text, str) and text.strip().startswith("[") else text
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _are_node_urls(urls: tuple[str, ...]) -> bool:
    """Each a tcp:// or ssh:// URL naming a host: the host is also where the node's published ports answer."""
    return all(re.fullmatch(r"(tcp|ssh)://([^@/]+@)?[A-Za-z0-9.\-\[\]:]+(:\d+)?/?", url) for url in urls)


@dataclass(frozen=True)
class RestoreTarget:
    kind: str  # latest | time | name
    value: str = ""  # the time, as PostgreSQL reads it, or the restore point's name


def restore_target(text: str) -> RestoreTarget:
    """`latest`, a time with its zone offset (ISO 8601), or the name of a restore point; ValueError otherwise."""
    text = str(text).strip()
    if text == "latest":
        return RestoreTarget("latest")
    if re.match(r"^\d{4}-\d{2}-\d{2}", text):
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            raise ValueError
        return RestoreTarget("time", when.isoformat(sep=" "))
    if not RESTORE_POINT_NAME.match(text):
        raise ValueError
    return RestoreTarget("name", text)


def _is_port(value: int) -> bool:
    return 1024 <= value <= 65535


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_subnet(value: str) -> bool:
    try:
        net = ipaddress.ip_network(value)
    except ValueError:
        return False
    return net.version == 4 and 16 <= net.prefixlen <= 25


def default_subnet(stack: str, taken: Iterable[str] = ()) -> str:
    """A /24 of SUBNET_POOL: the one the stack name picks, or the next one that overlaps none of `taken` (the
    host's other Docker networks), so that stacks side by side never share a subnet."""
    blocks = list(SUBNET_POOL.subnets(new_prefix=24))
    start = zlib.crc32(stack.encode()) % len(blocks)
    used = [ipaddress.ip_network(subnet) for subnet in taken]
    free = (block for block in blocks[start:] + blocks[:start] if not any(block.overlaps(u) for u in used))
    return str(next(free, blocks[start]))  # a full pool: the preview's overlap check names the network


OPTIONS = (
    Option("etcdNodes", 3, _int, lambda v: 1 <= v <= 7 and v % 2 == 1, "an odd whole number from 1 to 7"),
    Option(
        "postgresNodes",
        3,
        _int,
        lambda v: 1 <= v <= MAX_POSTGRES_NODES,
        f"a whole number from 1 to {MAX_POSTGRES_NODES}",
    ),
    Option(
        "haproxyNodes", 2, _int, lambda v: 1 <= v <= MAX_HAPROXY_NODES, f"a whole number from 1 to {MAX_HAPROXY_NODES}"
    ),
    Option("synchronousMode", "quorum", _str, lambda v: v in SYNCHRONOUS_MODES, " | ".join(SYNCHRONOUS_MODES)),
    Option("bindAddress", "127.0.0.1", _str, _is_ip, "an IP address of this host"),
    Option("subnet", None, _str, _is_subnet, "an IPv4 network from /16 to /25 such as 10.213.7.0/24"),
    Option("rwPort", STANDARD_PORTS["rwPort"], _int, _is_port, "a port from 1024 to 65535"),
    Option("roPort", STANDARD_PORTS["roPort"], _int, _is_port, "a port from 1024 to 65535"),
    Option("statsPort", STANDARD_PORTS["statsPort"], _int, _is_port, "a port from 1024 to 65535"),
    Option("patroniPort", STANDARD_PORTS["patroniPort"], _int, _is_port, "a port from 1024 to 65535"),
    Option("engine", "docker", _str, lambda v: v in ENGINES, " | ".join(ENGINES)),
    Option[tuple[str, ...]](
        "swarmNodes",
        (),
        _engine_urls,
        _are_node_urls,
        "a list of the Swarm nodes' engine URLs, manager first, e.g. [tcp://10.0.0.11:2375, ssh://admin@db2]",
    ),
    Option("swarmLab", "", _str, lambda v: v == "" or bool(STACK_NAME.match(v)), "the name of a `make swarm-lab` lab"),
    Option("backups", True, _bool, lambda v: isinstance(v, bool), "true | false (pgBackRest, part of the stack)"),
    Option("fastFailover", True, _bool, lambda v: isinstance(v, bool), "true | false"),
    Option(
        "strictMode", False, _bool, lambda v: isinstance(v, bool), "true | false (Patroni's synchronous_mode_strict)"
    ),
    Option("synchronousNodeCount", 1, _int, lambda v: v >= 1, "a whole number, at least 1, below postgresNodes"),
    Option("failsafeMode", True, _bool, lambda v: isinstance(v, bool), "true | false"),
    Option("maximumLagOnFailover", 1048576, _int, lambda v: v >= 0, "a whole number of bytes, 0 or more"),
    Option[dict[str, str]](
        "postgresParameters",
        {},
        _parameters,
        lambda v: isinstance(v, dict),
        "a map of PostgreSQL parameter names to values, e.g. {work_mem: 64MB}",
    ),
    Option(
        "allowUnsafeParameters",
        False,
        _bool,
        lambda v: isinstance(v, bool),
        "true | false (true: postgresParameters may risk acknowledged commits or the data on a crash)",
    ),
    Option("ttl", 20, _int, lambda v: v >= 20, "a whole number of seconds, at least 20 (Patroni's minimum)"),
    Option("loopWait", 2, _int, lambda v: v >= 1, "a whole number of seconds, at least 1"),
    Option("retryTimeout", 4, _int, lambda v: v >= 3, "a whole number of seconds, at least 3 (Patroni's minimum)"),
    Option(
        "nodeImageRevision",
        0,
        _int,
        lambda v: v >= 0,
        "a whole number, 0 or more; raise it to rebuild the node image from Debian's current packages",
    ),
    Option(
        "archiveTimeout",
        60,
        _int,
        lambda v: 1 <= v <= 3600,
        "a whole number of seconds from 1 to 3600 (PostgreSQL's archive_timeout)",
    ),
    Option("backupRetentionFull", 2, _int, lambda v: 1 <= v <= 99, "a whole number of full backups to keep, 1 to 99"),
    Option(
        "backupSchedule",
        {"full": "7d", "incr": "1d"},
        _schedule,
        lambda v: isinstance(v, dict),
        'a map of backup types (full, diff, incr) to intervals such as 30m, 12h, 7d, e.g. {"full": "7d", "incr": "1h"}',
    ),
    Option(
        "metrics",
        True,
        _bool,
        lambda v: isinstance(v, bool),
        "true | false (Prometheus and the exporters, part of the stack)",
    ),
    Option("prometheusPort", STANDARD_PORTS["prometheusPort"], _int, _is_port, "a port from 1024 to 65535"),
    Option(
        "scrapeInterval",
        1,
        _int,
        lambda v: 1 <= v <= 60,
        "a whole number of seconds from 1 to 60 (how often Prometheus scrapes and evaluates its alerts)",
    ),
    Option(
        "replicaLagAlertBytes",
        16 * 1024 * 1024,
        _int,
        lambda v: v >= 0,
        "a whole number of bytes, 0 or more (the replica lag that raises PghaReplicaLagHigh)",
    ),
    Option(
        "restoreFrom",
        "",
        _str,
        lambda v: v == "" or bool(STACK_NAME.match(v)),
        "the name of a stack whose backups this new stack starts from",
    ),
    Option(
        "restoreCluster",
        0,
        _int,
        lambda v: v >= 0,
        "the number of the restoreFrom stack's cluster to restore (1 its first, as `make backups` lists them); "
        "0 the newest that holds a backup",
    ),
    Option(
        "restoreTarget",
        RestoreTarget("latest"),
        restore_target,
        lambda v: isinstance(v, RestoreTarget),
        "latest | a time with its zone offset, e.g. 2026-11-26T20:15:00+00:00 | a restore point's name",
    ),
)
KNOWN_KEYS = tuple(o.key for o in OPTIONS) + PASSWORD_KEYS + (BACKUP_KEY,)


@dataclass(frozen=True)
class Settings:
    stack: str
    etcd_nodes: int
    postgres_nodes: int
    haproxy_nodes: int
    synchronous_mode: str
    bind_address: str
    subnet: str
    rw_port: int
    ro_port: int
    stats_port: int
    patroni_port: int
    engine: str
    swarm_nodes: tuple[str, ...]
    swarm_lab: str
    backups: bool
    ttl: int
    loop_wait: int
    retry_timeout: int
    fast_failover: bool
    strict_mode: bool
    synchronous_node_count: int
    failsafe_mode: bool
    maximum_lag_on_failover: int
    postgres_parameters: dict
    allow_unsafe_parameters: bool
    node_image_revision: int
    archive_timeout: int
    backup_retention_full: int
    backup_schedule: dict
    metrics: bool
    prometheus_port: int
    scrape_interval: int
    replica_lag_alert_bytes: int
    restore_from: str
    restore_cluster: int
    restore_target: RestoreTarget
    # Not set by the user: which cluster of the stack this is (pgha.model.stack_config counts the earlier ones in
    # its repository); its backups go to a stanza of its own.
    cluster: int = 1

    @property
    def stanza(self) -> str:
        return names.stanza(self.stack, self.cluster)

    @property
    def restore_stanza(self) -> str:
        """The stanza the stack restores from (restore_cluster resolved to a number first)."""
        return names.stanza(self.restore_from, self.restore_cluster)

    @property
    def prefix(self) -> str:
        """Every Docker object of the stack is named `<prefix>-...`; its network is named `<prefix>`."""
        return names.stack_prefix(self.stack)

    def patroni_api_port(self, index: int) -> int:
        """Host port of node `index`'s (1-based) Patroni REST API."""
        return self.patroni_port + index - 1

    def haproxy_ports(self, index: int) -> dict[str, int]:
        """Host ports of HAProxy instance `index` (1-based), by the key each derives from."""
        step = HAPROXY_PORT_STEP * (index - 1)
        return {"rwPort": self.rw_port + step, "roPort": self.ro_port + step, "statsPort": self.stats_port + step}

    def published_ports(self) -> dict[str, int]:
        """Every port the stack publishes, named `<key>[ + offset] of <member>`: the key comes first."""
        ports = {}
        for i in range(1, self.haproxy_nodes + 1):
            for key, port in self.haproxy_ports(i).items():
                ports[f"{_offset(key, HAPROXY_PORT_STEP * (i - 1))} of haproxy-{i}"] = port
        for i in range(1, self.postgres_nodes + 1):
            ports[f"{_offset('patroniPort', i - 1)} of postgres-{i}"] = self.patroni_api_port(i)
        if self.metrics:
            ports["prometheusPort of prometheus"] = self.prometheus_port
        return ports


def block_ports(block: int) -> dict[str, int]:
    """The ports of block `block`, by key."""
    if block == 0:
        return dict(STANDARD_PORTS)
    return {key: port + PORT_BLOCK_STEP * block for key, port in PORT_BLOCK_BASE.items()}


def with_ports(settings: Settings, ports: Mapping[str, int]) -> Settings:
    fields: dict[str, Any] = {_snake(key): port for key, port in ports.items()}
    return replace(settings, **fields)


def chosen_ports(
    settings: Settings, unset: Iterable[str], kept: Mapping[str, int], taken: Callable[[int], bool]
) -> dict[str, int]:
    """Ports for the port keys the stack leaves `unset`: those its deployed containers publish (`kept`: a deployed
    stack never moves), the others from the first block none of whose ports the stack would publish is `taken`;
    block 0's when none is free (the host check then names the clash). The ports the user sets are the host
    check's to judge."""
    unset = [key for key in PORT_KEYS if key in set(unset)]
    for block in range(PORT_BLOCKS):
        ports = {key: kept.get(key, block_ports(block)[key]) for key in unset}
        published = with_ports(settings, ports).published_ports()
        if not any(taken(port) for name, port in published.items() if name.split()[0] in ports):
            return ports
    return {key: kept.get(key, block_ports(0)[key]) for key in unset}


def _offset(key: str, offset: int) -> str:
    return f"{key} + {offset}" if offset else key


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def _unknown_key_problems(raw: Mapping[str, str]) -> list[str]:
    problems = []
    for key in sorted(raw):
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
            hint = f"did you mean {NAMESPACE}:{close[0]}?" if close else f"known keys: {', '.join(KNOWN_KEYS)}"
            problems.append(f"{NAMESPACE}:{key}: unknown key; {hint}")
    return problems


def _parse_options(raw: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Each option's value by its Settings field (of as many types as the options), and the problems found."""
    values: dict[str, Any] = {}
    problems = []
    for option in OPTIONS:
        text = raw.get(option.key)
        value = option.value(text)
        if value is None:
            problems.append(f"{NAMESPACE}:{option.key}: {text!r} is not allowed; expected {option.allowed}")
        values[_snake(option.key)] = value
    return values, problems


def _port_clash_problems(settings: Settings) -> list[str]:
    """One line per key, or pair of keys, at fault: the instances derived from them go wrong alike."""
    owners: dict[int, str] = {}
    at_fault: set[frozenset[str]] = set()
    problems = []
    for name, port in settings.published_ports().items():
        key = name.split()[0]
        if port > 65535:
            keys, problem = frozenset([key]), f"{port} ({name}) is past 65535; use a lower {key}"
        elif port in owners:
            keys = frozenset([key, owners[port].split()[0]])
            problem = f"port {port} ({name}) is also the {owners[port]}; every published port must differ"
        else:
            owners[port] = name
            continue
        if keys not in at_fault:
            at_fault.add(keys)
            problems.append(f"{NAMESPACE}:{key}: {problem}")
    return problems


def _synchronous_problems(settings: Settings) -> list[str]:
    standbys = settings.postgres_nodes - 1
    if settings.synchronous_mode != "off" and standbys and settings.synchronous_node_count > standbys:
        return [
            f"{NAMESPACE}:synchronousNodeCount: {settings.synchronous_node_count} is more than the {standbys} "
            f"standbys that postgresNodes = {settings.postgres_nodes} gives; expected 1 to {standbys}"
        ]
    return []


def _subnet_problems(settings: Settings) -> list[str]:
    net = ipaddress.IPv4Network(settings.subnet)  # an IPv4 network: _is_subnet let no other through
    if any(net.subnet_of(private) for private in PRIVATE_NETWORKS):
        return []
    ranges = ", ".join(map(str, PRIVATE_NETWORKS))
    return [
        f"{NAMESPACE}:subnet: {settings.subnet} is outside the private IPv4 ranges ({ranges}); "
        "this host would route those addresses into the stack instead of to their owners"
    ]


def _timing_problems(settings: Settings) -> list[str]:
    need = settings.loop_wait + 2 * settings.retry_timeout
    if need <= settings.ttl:
        return []
    return [
        f"{NAMESPACE}:ttl: {settings.ttl} is below loopWait + 2 * retryTimeout = {need}; "
        "Patroni requires loop_wait + 2*retry_timeout <= ttl"
    ]


def _restore_problems(settings: Settings) -> list[str]:
    given = [
        key
        for key, value in (
            ("restoreTarget", settings.restore_target.kind != "latest"),
            ("restoreCluster", settings.restore_cluster),
        )
        if value
    ]
    if settings.restore_from:
        return []
    return [
        f"{NAMESPACE}:{key}: set without {NAMESPACE}:restoreFrom, the stack whose backups to restore" for key in given
    ]


def _swarm_problems(settings: Settings) -> list[str]:
    """A Swarm places one member per node; what the program cannot place there yet is refused, not half made."""
    if settings.engine != "swarm":
        given = [
            key for key, value in (("swarmNodes", settings.swarm_nodes), ("swarmLab", settings.swarm_lab)) if value
        ]
        return [
            f"{NAMESPACE}:{key}: set, but {NAMESPACE}:engine is docker; set {NAMESPACE}:engine swarm" for key in given
        ]
    nodes = len(settings.swarm_nodes)
    if not nodes:
        return [
            f"{NAMESPACE}:swarmNodes: missing; {NAMESPACE}:engine swarm needs the nodes' engine URLs, manager "
            f"first (or {NAMESPACE}:swarmLab, the name of a `make swarm-lab` lab)"
        ]
    problems = [
        f"{NAMESPACE}:{key}: {count} members need {count} Swarm nodes, one each; {NAMESPACE}:swarmNodes lists {nodes}"
        for key, count in (
            ("etcdNodes", settings.etcd_nodes),
            ("postgresNodes", settings.postgres_nodes),
            ("haproxyNodes", settings.haproxy_nodes),
        )
        if count > nodes
    ]
    unplaced = {
        "metrics": "Prometheus and its exporters are not placed on a Swarm yet",
        "backups": "pgBackRest's repository is one volume that every node mounts, which hosts apart cannot share",
    }
    problems += [
        f"{NAMESPACE}:{key}: {why}; set {NAMESPACE}:{key} false with {NAMESPACE}:engine swarm"
        for key, why in unplaced.items()
        if getattr(settings, key)
    ]
    if settings.restore_from:
        problems.append(f"{NAMESPACE}:restoreFrom: a restore reads backups, which {NAMESPACE}:engine swarm has not")
    return problems


def _unsafe_parameters(settings: Settings) -> list[str]:
    cluster = durability.Cluster(settings.synchronous_mode, settings.postgres_nodes)
    return durability.unsafe_parameters(settings.postgres_parameters, cluster)


def _unsafe_parameter_problems(settings: Settings) -> list[str]:
    """A parameter that can lose acknowledged commits or corrupt data on a crash is a mistake until the stack says
    it takes that risk."""
    if settings.allow_unsafe_parameters:
        return []
    return [
        f"{NAMESPACE}:postgresParameters: {risk}; set {NAMESPACE}:allowUnsafeParameters true to take that risk"
        for risk in _unsafe_parameters(settings)
    ]


def unsafe_parameter_warnings(settings: Settings) -> list[str]:
    """The risks the stack takes with pgha:allowUnsafeParameters, one line each, for preview to print."""
    if not settings.allow_unsafe_parameters:
        return []
    return [
        f"{NAMESPACE}:postgresParameters: {risk} (allowed by {NAMESPACE}:allowUnsafeParameters)"
        for risk in _unsafe_parameters(settings)
    ]


def parse(stack: str, raw: Mapping[str, str]) -> Settings:
    """Turn the raw `pgha:*` config (keys without the namespace, values as strings) into Settings.

    Raises SettingsError listing every problem at once, so one `pulumi preview` shows them all.
    """
    problems = (
        []
        if STACK_NAME.match(stack)
        else [f"stack name {stack!r} is not allowed; expected lowercase letters, digits and '-', at most 31 characters"]
    )
    problems += _unknown_key_problems(raw)
    values, option_problems = _parse_options({"subnet": default_subnet(stack), **raw})
    problems += option_problems
    if option_problems:
        raise SettingsError(problems)
    settings = Settings(stack=stack, **values)
    problems += _port_clash_problems(settings) + _subnet_problems(settings)
    problems += _timing_problems(settings) + _synchronous_problems(settings) + _restore_problems(settings)
    problems += _swarm_problems(settings) + _unsafe_parameter_problems(settings)
    if problems:
        raise SettingsError(problems)
    return settings


@dataclass(frozen=True)
class HostFacts:
    """What the host says about a stack's settings; gathered by pgha.model.host, given here as data."""

    address_is_local: bool
    busy_ports: frozenset[int]  # published ports some other process holds (not this stack's containers)
    other_subnets: Mapping[str, str]  # other Docker networks: name -> subnet
    running_etcd_members: int = 0  # etcd containers the stack already has (0: not deployed)
    leader: str | None = None  # the running stack's Patroni leader, e.g. "postgres-2"
    docker_socket_group: int = 0  # the group that may use the engine's socket


def host_problems(settings: Settings, facts: HostFacts) -> list[str]:
    """Problems only the host can reveal: an address that is not ours, a taken port, an overlapping subnet."""
    problems = []
    if not facts.address_is_local:
        problems.append(f"{NAMESPACE}:bindAddress: {settings.bind_address!r} is not an address of this host")
    for name, port in settings.published_ports().items():
        if port in facts.busy_ports:
            problems.append(
                f"{NAMESPACE}:{name.split()[0]}: port {port} ({name}) is already bound on this host; choose a free port"
            )
    net = ipaddress.ip_network(settings.subnet)
    for name, other in sorted(facts.other_subnets.items()):
        if net.overlaps(ipaddress.ip_network(other, strict=False)):
            problems.append(
                f"{NAMESPACE}:subnet: {settings.subnet} overlaps Docker network {name} ({other}); set another {NAMESPACE}:subnet"
            )
    return problems + _running_stack_problems(settings, facts)


def _running_stack_problems(settings: Settings, facts: HostFacts) -> list[str]:
    """Changes a running stack cannot take in place; refused before anything is touched."""
    problems = []
    running = facts.running_etcd_members
    if running and running != settings.etcd_nodes:
        problems.append(
            f"{NAMESPACE}:etcdNodes: {settings.etcd_nodes} differs from the {running} members the running stack has; "
            "etcd membership is not changed in place: destroy the stack and deploy it again with the new count"
        )
    index = names.member_index(facts.leader) if facts.leader else 0
    if index > settings.postgres_nodes:
        problems.append(
            f"{NAMESPACE}:postgresNodes: {settings.postgres_nodes} would remove {facts.leader}, the current primary; "
            f"switch over to a remaining node first (make switchover STACK={settings.stack})"
        )
    return problems


def network_problems(settings: Settings, network: tuple[str, str] | None) -> list[str]:
    """The stack's network already on the engine, `network` as (ID, subnet), is adopted as it is: its subnet must be
    the stack's. It is there while the stack is deployed, or after a destroy the engine would not finish."""
    if network is None or not network[1] or network[1] == settings.subnet:
        return []
    return [
        f"{NAMESPACE}:subnet: {settings.subnet} is not the subnet of network {settings.prefix} ({network[1]}), which "
        f"the stack keeps on the engine: set {NAMESPACE}:subnet {network[1]}, or remove that network first"
    ]


# Settings Patroni keeps in etcd once the cluster exists, with the value each takes there; they are
# applied live through Patroni's REST API (components/patroni_config.py), never by re-rendering a node's file.
DYNAMIC_SETTINGS = {
    "synchronousMode": (
        "synchronous_mode",
        lambda s: {"off": False, "on": True, "quorum": "quorum"}[s.synchronous_mode],
    ),
    "ttl": ("ttl", lambda s: s.ttl),
    "loopWait": ("loop_wait", lambda s: s.loop_wait),
    "retryTimeout": ("retry_timeout", lambda s: s.retry_timeout),
    "strictMode": ("synchronous_mode_strict", lambda s: s.strict_mode),
    "synchronousNodeCount": ("synchronous_node_count", lambda s: s.synchronous_node_count),
    "failsafeMode": ("failsafe_mode", lambda s: s.failsafe_mode),
    "maximumLagOnFailover": ("maximum_lag_on_failover", lambda s: s.maximum_lag_on_failover),
}


def patroni_dynamic_config(settings: Settings) -> dict:
    config = {patroni_key: value(settings) for patroni_key, value in DYNAMIC_SETTINGS.values()}
    parameters = dict(settings.postgres_parameters) | {"archive_timeout": str(settings.archive_timeout)}
    return config | {"postgresql": {"parameters": parameters}}


def password_problems(raw: Mapping[str, str], secret_keys: Iterable[str]) -> list[str]:
    """A password the stack's config sets (instead of the generated one) must be a secret and long enough.

    `secret_keys` are the keys set with --secret, namespace stripped. Values are never printed.
    """
    secret, problems = set(secret_keys), []
    for key in (k for k in PASSWORD_KEYS if k in raw):
        fix = f"`pulumi config set --secret {NAMESPACE}:{key}` (it prompts for the value)"
        use_generated = f"or `pulumi config rm {NAMESPACE}:{key}` to use the generated one"
        if key not in secret:
            problems.append(f"{NAMESPACE}:{key}: set in plain text; set it as a secret with {fix}, {use_generated}")
        if len(str(raw[key])) < MIN_PASSWORD_LENGTH:
            problems.append(
                f"{NAMESPACE}:{key}: shorter than {MIN_PASSWORD_LENGTH} characters; set a longer one with {fix}, {use_generated}"
            )
    return problems


def backup_key_problems(raw: Mapping[str, str], secret_keys: Iterable[str]) -> list[str]:
    """A repository key the stack sets (instead of this machine's) must be a secret, and long enough. Its value is
    never printed."""
    fix = f"`pulumi config set --secret {NAMESPACE}:{BACKUP_KEY}`, or `pulumi config rm {NAMESPACE}:{BACKUP_KEY}` to use this machine's key"
    if BACKUP_KEY not in raw:
        return []
    problems = []
    if BACKUP_KEY not in set(secret_keys):
        problems.append(f"{NAMESPACE}:{BACKUP_KEY}: set in plain text; set it as a secret with {fix}")
    if len(str(raw[BACKUP_KEY])) < MIN_BACKUP_KEY_LENGTH:
        problems.append(
            f"{NAMESPACE}:{BACKUP_KEY}: shorter than {MIN_BACKUP_KEY_LENGTH} characters; set a longer one with {fix}"
        )
    return problems


def exposure_warning(settings: Settings) -> str | None:
    """What other machines can reach when the ports are published on an address that is not loopback."""
    if settings.engine == "swarm":
        if settings.swarm_lab:  # the lab's nodes are on a bridge network of this host only
            return None
        return (
            f"{NAMESPACE}:engine: swarm publishes HAProxy's ports and every node's Patroni REST API on every address "
            "of the Swarm node that runs them: other machines that reach those nodes reach them"
        )
    address = ipaddress.ip_address(settings.bind_address)
    if address.is_loopback:
        return None
    where = "every address of this host" if address.is_unspecified else settings.bind_address
    instances = range(1, settings.haproxy_nodes + 1)
    haproxy = " and ".join(
        f"{', '.join(map(str, settings.haproxy_ports(i).values()))} (haproxy-{i})" for i in instances
    )
    nodes = ", ".join(f"{settings.patroni_api_port(i)} (postgres-{i})" for i in range(1, settings.postgres_nodes + 1))
    return (
        f"{NAMESPACE}:bindAddress: {settings.bind_address} is not a loopback address: other machines can reach, "
        f"on {where}, HAProxy's read-write, read-only and stats ports {haproxy}, and every node's Patroni REST API: {nodes}"
    )
