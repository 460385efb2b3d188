"""Reads the stack's `pgha` config through Pulumi and checks it, before any resource is declared."""
from __future__ import annotations

import pulumi
from pulumi.runtime import config as runtime_config

import subprocess

from pgha import docker_api, host, postgres_check
from pgha.render import Passwords
from pgha.settings import NAMESPACE, PASSWORD_KEYS, Settings, SettingsError, host_problems, missing_passwords, parse


def _raw_config() -> dict[str, str]:
    """Every `pgha:*` key the stack sets, namespace stripped (values stay in memory, never printed)."""
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{NAMESPACE}:"
    return {k[len(prefix):]: v for k, v in merged.items() if k.startswith(prefix)}


def _passwords(config: pulumi.Config) -> pulumi.Output[Passwords]:
    values = [config.require_secret(key) for key in PASSWORD_KEYS]
    return pulumi.Output.all(*values).apply(lambda v: Passwords(*v))


def load() -> tuple[Settings, pulumi.Output[Passwords]]:
    """Raises pulumi.RunError with one line per problem: the engine prints them without a traceback."""
    raw = _raw_config()
    problems = missing_passwords(raw)
    try:
        settings = parse(pulumi.get_stack(), raw)
        problems += host_problems(settings, host.gather(settings))
        if settings.postgres_parameters:
            problems += postgres_check.problems(settings.postgres_parameters)
    except SettingsError as exc:
        problems = exc.problems + problems
    except docker_api.DockerError as exc:
        problems.append(f"{exc}; run `make setup` to start it")
    except subprocess.SubprocessError as exc:
        problems.append(f"pgha:postgresParameters: could not run PostgreSQL to check them ({exc}); run `make setup`")
    if problems:
        raise pulumi.RunError("invalid stack configuration:\n" + "\n".join(problems))
    return settings, _passwords(pulumi.Config(NAMESPACE))
