"""Where a deployed stack answers: its outputs (endpoints, credentials) and its containers.

A stack runs on one Docker engine (pgha:engine docker, the local one) or across a Docker Swarm (pgha:engine swarm):
there each member is a one-replica service pinned to a node (the outputs' `placement`), and its container is
whichever task Swarm runs now, on that node's engine (`swarmNodes`). Everything that reaches a member's container
goes through Target.place(), which knows both.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

from pgha import names
from pgha.clients import docker_api
from pgha.model import render, stacks

Endpoint = tuple[str, int]
SERVICE_LABEL = "com.docker.swarm.service.name"  # Swarm's own label on a task's container


@dataclass(frozen=True)
class Place:
    """One member's container and the engine that runs it: what a fault, `docker exec` or an inspection acts on."""

    member: str  # short name: postgres-2
    container: str  # its name on the local engine; on a Swarm node, the current task container's id
    engine_url: str | None = None  # None: the local engine; else the Swarm node's (tcp://10.214.7.12:2375)

    @property
    def api(self) -> docker.APIClient:
        """The SDK's low-level client of that engine: one request per call, none spent looking the container up."""
        return (docker_api.engine(self.engine_url) if self.engine_url else docker_api.client()).api

    def exec_argv(self, *options: str) -> list[str]:
        """`docker exec` into it, as a command line: psql, etcdctl and pg_amcheck run there as in any container."""
        where = ["-H", self.engine_url] if self.engine_url else []
        return ["docker", *where, "exec", *options, self.container]


def current_task(tasks: list[dict]) -> dict:
    """Of a service's task containers on a node (Swarm keeps the dead ones of earlier tasks), the running one, else
    the newest: a killed task's container stays exited, its replacement is a new container."""
    return max(tasks, key=lambda c: (c.get("State") == "running", c.get("Created", 0)))


def role_of(member: str) -> str:
    """postgres-2 -> postgres: the pgha.role label its container carries."""
    return names.role_of(member)


class ConnectionParams(render.DeadPeer):
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
    # A Swarm stack's node engines, node 1 (the manager) first, and each member's node number; empty on one engine.
    swarm_nodes: tuple[str, ...] = ()
    placement: Mapping[str, int] = field(default_factory=dict)

    @property
    def is_swarm(self) -> bool:
        return bool(self.swarm_nodes)

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
            **render.DEAD_PEER,
        }

    def containers(self, role: str | None = None) -> dict[str, dict]:
        """This stack's containers (running or not) by short name: postgres-1, etcd-2, haproxy-1 ..., each as the
        engine lists it (Id, Names, Image, Labels, State, NetworkSettings ...). On a Swarm: each service's current
        task container; a service with a task on every node (the failover watcher) as `name@node-N`; a placed member
        whose node does not answer, or that has no container, with State `unreachable` or `missing`."""
        labels = [names.stack_label(self.stack)] + ([names.role_label(role)] if role else [])
        if self.is_swarm:
            return self._swarm_containers(labels, role)
        found = [c.attrs for c in docker_api.labelled("containers", *labels)]
        members = ((names.member_of(self.stack, c["Names"][0]), c) for c in found)
        return {member: c for member, c in members if member}

    def addresses(self, role: str) -> dict[str, str]:
        """Each running container of the role by its addresses (address -> short name): what inet_server_addr()
        names a server by. On a Swarm, where Patroni knows members by name, the probes name them from this."""
        found = {}
        for member, attrs in self.containers(role).items():
            for settings in ((attrs.get("NetworkSettings") or {}).get("Networks") or {}).values():
                if settings.get("IPAddress"):
                    found[settings["IPAddress"]] = member
        return found

    def container(self, short: str) -> str:
        """A container's name on a one-engine stack (and what a Swarm service of the member is called)."""
        return names.container(self.stack, short)

    def node_url(self, member: str) -> str:
        """The engine of the Swarm node the member is pinned to."""
        if member not in self.placement:
            raise LookupError(f"{member} is not in stack {self.stack}'s placement ({', '.join(self.placement)})")
        return self.swarm_nodes[self.placement[member] - 1]

    def place(self, member: str, listed: dict | None = None) -> Place:
        """Where the member's container is now. On one engine, its fixed name; on a Swarm, its current task on its
        node (found by the service's name): a task killed is replaced by a new container, so ask again after.
        `listed`: the member's entry of containers(), which names the task already."""
        if not self.is_swarm:
            return Place(member, self.container(member))
        url = self.node_url(member)
        if listed is not None:
            return Place(member, listed["Id"], url)
        listed = docker_api.engine(url).containers.list(
            all=True, sparse=True, filters={"label": [f"{SERVICE_LABEL}={self.container(member)}"]}
        )
        if not listed:
            raise LookupError(f"{member}: no task container of service {self.container(member)} on {url}")
        return Place(member, current_task([c.attrs for c in listed])["Id"], url)

    def _swarm_containers(self, labels: list[str], role: str | None) -> dict[str, dict]:
        """containers() on a Swarm: every node's engine asked in turn (each answers for its own tasks only)."""
        prefix = f"pgha-{self.stack}-"
        tasks: dict[str, list[dict]] = {}
        unreachable: set[int] = set()
        for index, url in enumerate(self.swarm_nodes, 1):
            try:
                listed = docker_api.engine(url).containers.list(all=True, sparse=True, filters={"label": labels})
            except (docker.errors.DockerException, OSError):  # a node down, paused or cut off
                unreachable.add(index)
                continue
            for container in listed:
                attrs = container.attrs
                short = attrs["Labels"].get(SERVICE_LABEL, "").removeprefix(prefix)
                key = short if short in self.placement else f"{short}@node-{index}"
                tasks.setdefault(key, []).append(attrs)
        found = {key: current_task(candidates) for key, candidates in tasks.items()}
        for member, node in self.placement.items():
            if member not in found and role in (None, role_of(member)):
                state = "unreachable" if node in unreachable else "missing"
                found[member] = {"State": state, "Names": [], "Labels": {}, "Id": ""}
        return found

    def psql(self, member: str, sql: str, database: str | None = None, timeout: float = 30.0) -> str:
        """One statement inside a member's own container, as the local superuser (peer authentication):
        it reaches replicas as they are, not through a router. Returns psql's unaligned output."""
        command = [
            *self.place(member).exec_argv(),
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
            # The first line says what failed (psql: error ... / ERROR: ...); the ones after point into the statement.
            raise RuntimeError(f"{member}: {sql[:60]}: {(result.stderr.strip().splitlines() or ['psql failed'])[0]}")
        return result.stdout.strip()


# The outputs a Target is made of; a key of each group will do (a stack deployed before the HAProxy pair has only the
# single ones), the first named when none is there.
NEEDED_OUTPUTS = (
    ("rwEndpoints", "rwEndpoint"),
    ("roEndpoints", "roEndpoint"),
    ("statsUrls", "statsUrl"),
    ("patroniApis",),
    ("database",),
    ("user",),
    ("password",),
    ("patroniApiPassword",),
)
PULUMI_TIMEOUT_S = 60.0  # `pulumi stack output` reads the state file and deciphers its secrets: seconds, not minutes


class NoTarget(Exception):
    """No stack to act on, said in one line: what is wrong and what to run. Not a RuntimeError, which the verbs
    catch for failures of a stack that is there."""


class StackNotReady(NoTarget):
    """The stack does not exist, is not deployed or is half-deployed, or Pulumi cannot say which."""


class BadTargetFile(NoTarget):
    """The --target-file is missing, unreadable or lacks outputs."""


def _endpoint(text: str) -> Endpoint:
    host, port = text.rsplit(":", 1)
    return host, int(port)


def missing_outputs(outputs: Mapping) -> list[str]:
    """The outputs a Target needs that are not there, each group by its first key."""
    return [group[0] for group in NEEDED_OUTPUTS if not any(key in outputs for key in group)]


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
        swarm_nodes=tuple(outputs.get("swarmNodes") or ()),
        placement={member: int(node) for member, node in (outputs.get("placement") or {}).items()},
    )


def _pulumi(stack: str, *args: str) -> subprocess.CompletedProcess:
    """A Pulumi CLI command from the project's directory (where Pulumi.yaml names the project the stack is of), its
    stdin closed so that nothing waits for an answer; StackNotReady when the CLI is not there or does not answer."""
    try:
        return subprocess.run(
            ["pulumi", *args],
            cwd=stacks.ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PULUMI_TIMEOUT_S,
        )
    except FileNotFoundError:
        raise StackNotReady(
            f"cannot read stack {stack!r}: the pulumi CLI is not on PATH: run make setup, and . scripts/env.sh"
        ) from None
    except subprocess.TimeoutExpired:
        raise StackNotReady(
            f"cannot read stack {stack!r}: pulumi {args[0]} {args[1]} did not answer within {PULUMI_TIMEOUT_S:g}s: "
            f"try again once no other pulumi command holds it"
        ) from None


def _error_line(stderr: str) -> str:
    """Pulumi's own reason: its `error:` line (warnings may come first), else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("error:").strip() for line in lines if line.startswith("error:")]
    return (errors or lines or ["no message"])[0 if errors else -1]


def _resource_count(stack: str) -> int:
    """How many resources Pulumi's state holds for the stack (0 when it cannot say)."""
    listed = _pulumi(stack, "stack", "ls", "--json")
    try:
        found = [s for s in json.loads(listed.stdout) if s.get("name", "").split("/")[-1] == stack]
    except (ValueError, AttributeError):  # not the JSON list it prints
        return 0
    return int(found[0].get("resourceCount") or 0) if found else 0


def outputs(stack: str) -> dict:
    """A deployed stack's outputs, secrets shown, through the Pulumi CLI: StackNotReady, in one line that says what to
    run, when the stack does not exist, is not deployed (never, or destroyed) or is half-deployed (an `up` that failed
    midway), or Pulumi cannot tell."""
    done = _pulumi(stack, "stack", "output", "--json", "--show-secrets", "--stack", stack)
    if done.returncode != 0:
        reason = _error_line(done.stderr)
        if "no stack named" in reason or "not found" in reason:
            raise StackNotReady(f"stack {stack!r} does not exist: deploy it with make up STACK={stack}")
        hint = "" if os.environ.get("PULUMI_BACKEND_URL") else " (run pgha through make, or . scripts/env.sh first)"
        raise StackNotReady(f"cannot read stack {stack!r}: pulumi stack output failed: {reason}{hint}")
    try:
        found = json.loads(done.stdout)
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise StackNotReady(
            f"cannot read stack {stack!r}: pulumi stack output printed no JSON object: {done.stdout.strip()[:80]!r}"
        )
    again = f"run make up STACK={stack} again, or make down STACK={stack}"
    if not found:
        resources = _resource_count(stack)
        if resources:
            raise StackNotReady(f"stack {stack!r} is half-deployed ({resources} resources, no outputs): {again}")
        raise StackNotReady(f"stack {stack!r} is not deployed (no outputs): deploy it with make up STACK={stack}")
    missing = missing_outputs(found)
    if missing:
        raise StackNotReady(f"stack {stack!r} is half-deployed (its outputs lack {', '.join(missing)}): {again}")
    return found


def from_pulumi(stack: str) -> Target:
    """A deployed stack's Target, from its outputs (see outputs(): StackNotReady when there is none to make)."""
    return from_outputs(stack, outputs(stack))


def from_file(path: Path) -> Target:
    """The same, from a JSON file holding the outputs (`make outputs`) plus `stack`; BadTargetFile, in one line, when
    the file is not there, not JSON, or lacks `stack` or an output a Target needs."""
    redo = 'write it from make outputs STACK=<name>, with a "stack" field added'
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BadTargetFile(f"target file {path} does not exist: {redo}") from None
    except OSError as exc:
        raise BadTargetFile(f"target file {path} cannot be read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise BadTargetFile(f"target file {path} is not JSON ({exc}): {redo}") from None
    if not isinstance(data, dict) or not isinstance(data.get("stack"), str):
        raise BadTargetFile(f'target file {path} has no "stack" field: {redo}')
    missing = missing_outputs(data)
    if missing:
        raise BadTargetFile(f"target file {path} lacks {', '.join(missing)}: {redo}")
    return from_outputs(data["stack"], data)
