"""Reads the stack's `pgha` config through Pulumi and checks it, before any resource is declared."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

import docker.errors
import pulumi
from pulumi.runtime import config as runtime_config

from pgha.model import host, postgres_check, repository
from pgha.model.settings import (
    BACKUP_KEY,
    NAMESPACE,
    PASSWORD_KEYS,
    Settings,
    SettingsError,
    backup_key_problems,
    exposure_warning,
    host_problems,
    parse,
    password_problems,
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


def load() -> StackConfig:
    """The stack's checked configuration. Raises pulumi.RunError with one line per problem: the engine prints them
    without a traceback."""
    raw = _raw_config()
    problems = password_problems(raw, _secret_keys(raw))
    backups = _wants_backups(raw)
    if backups:  # the repository's key: a stack without one needs none
        problems += backup_key_problems(raw, _secret_keys(raw))
    try:
        if "subnet" not in raw:
            raw = {**raw, "subnet": host.stack_subnet(pulumi.get_stack())}
        if raw.get("swarmLab") and raw.get("engine") == "swarm":
            raw, lab_problems = _with_lab_nodes(raw)
            problems += lab_problems
        settings = parse(pulumi.get_stack(), raw)
        facts = host.gather(settings)
        problems += host_problems(settings, facts)
        if settings.postgres_parameters:
            problems += postgres_check.problems(settings.postgres_parameters)
        # Only a new stack restores, or finds the backups of an earlier one: a running one was bootstrapped already.
        if settings.backups and not facts.running_etcd_members and BACKUP_KEY in raw:
            problems += (
                repository.restore_problems(settings, raw[BACKUP_KEY])
                if settings.restore_from
                else repository.earlier_cluster_problems(settings.stack, raw[BACKUP_KEY])
            )
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
    key = pulumi.Config(NAMESPACE).require_secret(BACKUP_KEY) if backups else pulumi.Output.secret("")
    return StackConfig(settings, _configured_passwords(raw), facts.leader, key, facts.docker_socket_group)
