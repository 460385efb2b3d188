"""Reads the stack's `pgha` config through Pulumi and checks it, before any resource is declared."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

import docker.errors
import pulumi
from pulumi.runtime import config as runtime_config

from pgha.model import host, postgres_check, repository, stacks
from pgha.model.settings import (
    BACKUP_KEY,
    NAMESPACE,
    PASSWORD_KEYS,
    PORT_KEYS,
    HostFacts,
    Settings,
    SettingsError,
    backup_key_problems,
    exposure_warning,
    host_problems,
    network_problems,
    parse,
    password_problems,
    unsafe_parameter_warnings,
)


def _raw_config() -> dict[str, str]:
    """Every `pgha:*` key the stack sets, namespace stripped (values stay in memory, never printed)."""
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{NAMESPACE}:"
    return {k[len(prefix) :]: v for k, v in merged.items() if k.startswith(prefix)}


def _secret_keys(raw: dict[str, str]) -> list[str]:
    """The keys of `raw` the stack sets with --secret (the language host lists them for the program)."""
    listed = set(runtime_config.get_config_secret_keys_env())
    full = lambda key: f"{NAMESPACE}:{key}"  # noqa: E731
    return [k for k in raw if full(k) in listed or runtime_config.is_config_secret(full(k))]


def _wants_backups(raw: dict[str, str]) -> bool:
    """pgha:backups as set, before the settings are parsed (an unreadable value is parse's to report)."""
    return str(raw.get("backups", "true")).strip().lower() != "false"


def _configured_passwords(raw: dict[str, str]) -> dict[str, pulumi.Output[str]]:
    config = pulumi.Config(NAMESPACE)
    return {key: config.require_secret(key) for key in PASSWORD_KEYS if key in raw}


def _with_lab_nodes(raw: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """pgha:swarmLab names a lab of this host: its nodes' engine URLs become pgha:swarmNodes."""
    lab = raw["swarmLab"]
    if "swarmNodes" in raw:
        return raw, [f"{NAMESPACE}:swarmLab: set with {NAMESPACE}:swarmNodes; set one of them"]
    engines = host.swarm_lab_engines(lab)
    if not engines:
        return raw, [
            f"{NAMESPACE}:swarmLab: no Swarm lab named {lab!r} on this host; start it with `make swarm-lab LAB={lab}`"
        ]
    return {**raw, "swarmNodes": json.dumps(engines)}, []


@dataclass(frozen=True)
class StackConfig:
    settings: Settings
    passwords: dict[str, pulumi.Output[str]]  # the ones the stack's config sets; the others are generated
    leader: str | None  # the member leading the running stack (None for a new one): the last to be replaced
    backup_key: pulumi.Output[str]  # the pgBackRest repository's cipher passphrase
    docker_group: int  # the group of the engine's socket: the repository host reaches the nodes through it
    network_id: str | None = None  # the stack's network already on the local engine, adopted rather than created


def _backup_key(raw: dict[str, str]) -> tuple[str, pulumi.Output[str]]:
    """The repository's key, plain for the checks made here and as the secret the stack keeps: the one the stack's
    config sets, else this machine's (the backups outlive every stack, so their key does too)."""
    if BACKUP_KEY in raw:
        return str(raw[BACKUP_KEY]), pulumi.Config(NAMESPACE).require_secret(BACKUP_KEY)
    key = stacks.machine_backup_key()
    return key, pulumi.Output.secret(key)


def _with_host(raw: dict[str, str]) -> tuple[Settings, HostFacts, list[str]]:
    """The settings with what the host decides for a stack that leaves it unset (subnet, ports, the Swarm lab's
    nodes), and the facts the host gives about them."""
    stack, problems = pulumi.get_stack(), list[str]()
    if "subnet" not in raw:
        raw = {**raw, "subnet": host.stack_subnet(stack)}
    if raw.get("swarmLab") and raw.get("engine") == "swarm":
        raw, problems = _with_lab_nodes(raw)
    try:
        settings = parse(stack, raw)
    except SettingsError as exc:  # the lab's problem first: it is why swarmNodes is missing
        raise SettingsError(problems + exc.problems) from None
    settings = host.stack_ports(settings, [key for key in PORT_KEYS if key not in raw])
    return settings, host.gather(settings), problems


def load() -> StackConfig:
    """The stack's checked configuration. Raises pulumi.RunError with one line per problem: the engine prints them
    without a traceback."""
    raw = _raw_config()
    problems = password_problems(raw, _secret_keys(raw))
    if _wants_backups(raw):
        problems += backup_key_problems(raw, _secret_keys(raw))
    key, key_secret = _backup_key(raw) if _wants_backups(raw) else ("", pulumi.Output.secret(""))
    try:
        settings, facts, lab_problems = _with_host(raw)
        problems += lab_problems + host_problems(settings, facts)
        network = host.stack_network(settings.stack) if settings.engine != "swarm" else None
        problems += network_problems(settings, network)
        if settings.postgres_parameters:
            problems += postgres_check.problems(settings.postgres_parameters)
        # A running stack keeps its cluster; only a new one restores, or counts the clusters before it.
        if settings.backups and facts.running_etcd_members:
            settings = repository.running_cluster(settings, host.running_stanzas(settings.stack))
        elif settings.backups and not problems:
            settings, cluster_problems = repository.new_cluster(settings, key)
            problems += cluster_problems
    except SettingsError as exc:
        problems = exc.problems + problems
    except docker.errors.DockerException as exc:
        problems.append(f"{exc}; run `make setup` to start it")
    except subprocess.SubprocessError as exc:
        problems.append(f"pgha:postgresParameters: could not run PostgreSQL to check them ({exc}); run `make setup`")
    if problems:
        raise pulumi.RunError("invalid stack configuration:\n" + "\n".join(problems))
    warning = exposure_warning(settings)
    if warning:
        pulumi.log.warn(warning)
    for risk in unsafe_parameter_warnings(settings):
        pulumi.log.warn(risk)
    return StackConfig(
        settings,
        _configured_passwords(raw),
        facts.leader,
        key_secret,
        facts.docker_socket_group,
        network[0] if network else None,
    )
