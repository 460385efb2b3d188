"""Docker engines as the swarm-aware ops code sees them, without Docker: containers listed by label, and the
low-level calls a fault makes, recorded."""

from __future__ import annotations

from types import SimpleNamespace

import docker.errors

from pgha.ops.target import from_outputs

NODES = ["tcp://10.214.7.11:2375", "tcp://10.214.7.12:2375", "tcp://10.214.7.13:2375"]
PLACEMENT = {
    **{f"etcd-{i}": i for i in (1, 2, 3)},
    **{f"postgres-{i}": i for i in (1, 2, 3)},
    **{f"pgbouncer-{i}": i for i in (1, 2, 3)},
    "haproxy-1": 1,
    "haproxy-2": 2,
}
OUTPUTS = {
    "rwEndpoint": "10.214.7.11:5000",
    "roEndpoint": "10.214.7.11:5001",
    "statsUrl": "http://10.214.7.11:7000/",
    "rwEndpoints": ["10.214.7.11:5000", "10.214.7.12:5000"],
    "roEndpoints": ["10.214.7.11:5001", "10.214.7.12:5001"],
    "statsUrls": ["http://10.214.7.11:7000/", "http://10.214.7.12:7000/"],
    "patroniApis": ["http://10.214.7.11:8008", "http://10.214.7.12:8008", "http://10.214.7.13:8008"],
    "database": "app",
    "user": "app",
    "password": "pw",
    "patroniApiPassword": "api-pw",
    "swarmNodes": NODES,
    "placement": PLACEMENT,
}


def swarm_target(stack: str = "t1"):
    return from_outputs(stack, OUTPUTS)


def task(stack: str, member: str, task_id: str, state: str = "running", created: int = 100, role: str = "") -> dict:
    """A task container as an engine lists it: Swarm's name and labels, the stack's own labels."""
    service = f"pgha-{stack}-{member}"
    return {
        "Id": f"{task_id}-container",
        "Names": [f"/{service}.1.{task_id}"],
        "State": state,
        "Created": created,
        "Labels": {
            "pgha.stack": stack,
            "pgha.role": role or member.rsplit("-", 1)[0],
            "com.docker.swarm.service.name": service,
        },
    }


def matches(attrs: dict, label: str) -> bool:
    key, _, value = label.partition("=")
    return key in attrs["Labels"] and (not value or attrs["Labels"][key] == value)


class FakeAPI:
    """The low-level client: records each call, answers inspections from the engine's containers."""

    def __init__(self, engine: FakeEngine):
        self.engine = engine
        self.calls: list[tuple] = []

    def __getattr__(self, verb: str):
        return lambda *args, **kwargs: self.calls.append((verb, *args))

    def tasks(self, filters: dict) -> list[dict]:
        """As a manager lists a service's tasks whose desired state is running."""
        return self.engine.swarm_tasks.get(filters["service"], [])

    def inspect_container(self, container: str) -> dict:
        attrs = next(c for c in self.engine.listed if c["Id"] == container)
        # As the engine reports them: a restarting container is Running with no process, Pid 0, as is a stopped one.
        has_process = attrs["State"] in ("running", "paused")
        running = has_process or attrs["State"] == "restarting"
        return {"State": {"Running": running, "Status": attrs["State"], "Pid": 4242 if has_process else 0}}


class FakeEngine:
    def __init__(self, listed: list[dict] | None = None, answers: bool = True):
        self.listed, self.answers = listed or [], answers
        self.swarm_tasks: dict[str, list[dict]] = {}  # a manager's: service name -> its tasks
        self.api = FakeAPI(self)
        self.containers = SimpleNamespace(list=self._list)

    def _list(self, all: bool = False, sparse: bool = False, filters: dict | None = None) -> list:
        if not self.answers:
            raise docker.errors.DockerException("connection refused")
        labels = (filters or {}).get("label", [])
        return [SimpleNamespace(attrs=c) for c in self.listed if all_match(c, labels)]


def all_match(attrs: dict, labels: list[str]) -> bool:
    return all(matches(attrs, label) for label in labels)


class FakeEngines:
    """docker_api.engine's stand-in: one FakeEngine per node URL."""

    def __init__(self, by_url: dict[str, FakeEngine]):
        self.by_url = by_url

    def __call__(self, url: str) -> FakeEngine:
        engine = self.by_url[url]
        if not engine.answers:
            raise docker.errors.DockerException(f"{url}: connection refused")
        return engine


def healthy_swarm(stack: str = "t1") -> FakeEngines:
    """Every placed member's running task on its node, plus the failover watcher's task on every node."""
    engines = {url: FakeEngine() for url in NODES}
    for member, node in PLACEMENT.items():
        engines[NODES[node - 1]].listed.append(task(stack, member, f"{member}-a"))
        engines[NODES[0]].swarm_tasks[f"pgha-{stack}-{member}"] = [swarm_task(f"{member}-a")]
    for node, url in enumerate(NODES, 1):
        engines[url].listed.append(task(stack, "failover-watcher", f"w{node}", role="failover-watcher"))
    return FakeEngines(engines)


def swarm_task(task_id: str, state: str = "running") -> dict:
    """A task as the manager lists it; its container is task()'s of the same id."""
    return {"ID": task_id, "Status": {"State": state, "ContainerStatus": {"ContainerID": f"{task_id}-container"}}}
