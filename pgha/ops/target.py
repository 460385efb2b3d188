"""Where a deployed stack answers: its outputs (endpoints, credentials) and its containers."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from pgha import docker_api

Endpoint = tuple[str, int]


class ConnectionParams(TypedDict):
    """libpq's connection keywords, as psycopg.connect takes them."""

    host: str
    port: str
    dbname: str
    user: str
    password: str


@dataclass(frozen=True)
class Target:
    stack: str
    rw_endpoints: list[Endpoint]  # every HAProxy instance's, haproxy-1 first
    ro_endpoints: list[Endpoint]
    stats_urls: list[str]
    patroni_apis: list[str]
    database: str
    user: str
    password: str
    api_password: str  # Patroni REST API, for unsafe requests such as a switchover
    prometheus_url: str | None = None  # None when the stack collects no metrics (pgha:metrics false)

    @property
    def rw(self) -> Endpoint:
        """haproxy-1's read-write endpoint (rwEndpoint)."""
        return self.rw_endpoints[0]

    @property
    def ro(self) -> Endpoint:
        return self.ro_endpoints[0]

    @property
    def stats_url(self) -> str:
        return self.stats_urls[0]

    def connection_params(self, endpoints: list[Endpoint]) -> ConnectionParams:
        """psycopg.connect's parameters for a libpq multi-host list: hosts tried in order, the first that lets
        the client in kept (any role: HAProxy's port picks it, see render.connection_uri)."""
        return {
            "host": ",".join(host for host, _ in endpoints),
            "port": ",".join(str(port) for _, port in endpoints),
            "dbname": self.database,
            "user": self.user,
            "password": self.password,
        }

    def containers(self, role: str | None = None) -> dict[str, dict]:
        """This stack's containers (running or not) by short name: postgres-1, etcd-2, haproxy-1 ..., each as the
        engine lists it (Id, Names, Image, Labels, State, NetworkSettings ...)."""
        labels = [f"pgha.stack={self.stack}"] + ([f"pgha.role={role}"] if role else [])
        found = [c.attrs for c in docker_api.labelled("containers", *labels)]
        prefix = f"/pgha-{self.stack}-"
        return {c["Names"][0][len(prefix) :]: c for c in found if c["Names"][0].startswith(prefix)}

    def container(self, short: str) -> str:
        return f"pgha-{self.stack}-{short}"

    def psql(self, member: str, sql: str, database: str | None = None, timeout: float = 30.0) -> str:
        """One statement inside a member's own container, as the local superuser (peer authentication):
        it reaches replicas as they are, not through a router. Returns psql's unaligned output."""
        command = [
            "docker",
            "exec",
            self.container(member),
            "psql",
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            database or self.database,
            "-c",
            sql,
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{member}: {sql[:60]}: {(result.stderr.strip().splitlines() or ['psql failed'])[-1]}")
        return result.stdout.strip()


def _endpoint(text: str) -> Endpoint:
    host, port = text.rsplit(":", 1)
    return host, int(port)


def from_outputs(stack: str, outputs: dict) -> Target:
    """A stack deployed before the HAProxy pair has only the single outputs: its one instance is the list."""
    return Target(
        stack=stack,
        rw_endpoints=[_endpoint(e) for e in outputs.get("rwEndpoints", [outputs["rwEndpoint"]])],
        ro_endpoints=[_endpoint(e) for e in outputs.get("roEndpoints", [outputs["roEndpoint"]])],
        stats_urls=list(outputs.get("statsUrls", [outputs["statsUrl"]])),
        patroni_apis=list(outputs["patroniApis"]),
        database=outputs["database"],
        user=outputs["user"],
        password=outputs["password"],
        api_password=outputs["patroniApiPassword"],
        prometheus_url=outputs.get("prometheusUrl"),
    )


def from_pulumi(stack: str) -> Target:
    """Reads a deployed stack's outputs, secrets shown, through the Pulumi CLI."""
    command = ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack]
    return from_outputs(stack, json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout))


def from_file(path: Path) -> Target:
    """The same, from a JSON file holding the outputs (`make outputs`) plus `stack`."""
    data = json.loads(Path(path).read_text())
    return from_outputs(data["stack"], data)
