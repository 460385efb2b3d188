"""Where a deployed stack answers: its outputs (endpoints, credentials) and its containers."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pgha import docker_api
from pgha.settings import NAMESPACE


@dataclass(frozen=True)
class Target:
    stack: str
    rw: tuple[str, int]
    ro: tuple[str, int]
    stats_url: str
    patroni_apis: list[str]
    database: str
    user: str
    password: str
    api_password: str  # Patroni REST API, for unsafe requests such as a switchover

    def containers(self, role: str | None = None) -> dict[str, dict]:
        """This stack's containers (running or not) by short name: postgres-1, etcd-2, haproxy ..."""
        labels = [f"pgha.stack={self.stack}"] + ([f"pgha.role={role}"] if role else [])
        found = docker_api.labelled("containers", *labels)
        prefix = f"/pgha-{self.stack}-"
        return {c["Names"][0][len(prefix):]: c for c in found if c["Names"][0].startswith(prefix)}


def _endpoint(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


def from_outputs(stack: str, outputs: dict, api_password: str) -> Target:
    return Target(
        stack=stack,
        rw=_endpoint(outputs["rwEndpoint"]),
        ro=_endpoint(outputs["roEndpoint"]),
        stats_url=outputs["statsUrl"],
        patroni_apis=list(outputs["patroniApis"]),
        database=outputs["database"],
        user=outputs["user"],
        password=outputs["password"],
        api_password=api_password,
    )


def from_pulumi(stack: str) -> Target:
    """Reads a deployed stack's outputs and its Patroni API password through the Pulumi CLI."""
    def pulumi(*args: str) -> str:
        return subprocess.run(["pulumi", *args, "--stack", stack], capture_output=True, text=True, check=True).stdout

    outputs = json.loads(pulumi("stack", "output", "--json", "--show-secrets"))
    return from_outputs(stack, outputs, pulumi("config", "get", f"{NAMESPACE}:patroniApiPassword").strip())


def from_file(path: Path) -> Target:
    """The same, from a JSON file holding the outputs plus `stack` and `patroniApiPassword`."""
    data = json.loads(Path(path).read_text())
    return from_outputs(data["stack"], data, data["patroniApiPassword"])
