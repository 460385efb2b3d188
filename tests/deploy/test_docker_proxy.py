"""No container with the engine's socket but the proxy (and the repository host, until pgBackRest's TLS server
replaces its use): the failover watcher reads the engine's events through the proxy, unprivileged, and cannot make
the engine do anything (issue 24)."""

import json
import subprocess

from pgha.model.layout import DOCKER_PROXY_SOCKET, ENGINE_SOCKET

# Run inside the watcher, with its own Python and docker-py: each request the watcher could try, and what came back.
ATTEMPTS = f"""
import json, docker
engine = docker.DockerClient(base_url="unix://{DOCKER_PROXY_SOCKET}")
listed = engine.api.containers()  # the list alone, as the watcher asks it (sparse: no inspect of each)
found = {{"version": engine.version()["ApiVersion"], "listed": len(listed)}}
some = listed[0]["Id"]
for name, attempt in [
    ("create", lambda: engine.containers.create("pgha-base:trixie", "true")),
    ("exec", lambda: engine.api.exec_create(some, "true")),
    ("stop", lambda: engine.api.stop(some)),
    ("inspect", lambda: engine.api.inspect_container(some)),
    ("images", lambda: engine.images.list()),
]:
    try:
        attempt()
        found[name] = "done"
    except docker.errors.APIError as exc:
        found[name] = exc.status_code
print(json.dumps(found))
"""


def docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)


def test_the_watcher_can_read_the_engine_but_not_make_it_do_anything(deployed):
    _, t = deployed
    watcher = t.container("failover-watcher")
    ran = docker("exec", watcher, "python3", "-c", ATTEMPTS)
    assert ran.returncode == 0, ran.stderr[-2000:]
    found = json.loads(ran.stdout)
    assert found["version"] and found["listed"] > 0, found
    assert {k: found[k] for k in ("create", "exec", "stop", "inspect", "images")} == dict.fromkeys(
        ("create", "exec", "stop", "inspect", "images"), 403
    )


def test_the_watcher_runs_unprivileged_without_the_engines_socket(deployed):
    _, t = deployed
    watcher = t.container("failover-watcher")
    status = docker("exec", watcher, "cat", "/proc/1/status").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["Uid"].split()[0] != "0" and fields["CapEff"].strip() == "0" * 16, fields
    assert docker("exec", watcher, "test", "-e", ENGINE_SOCKET).returncode == 1


def test_only_the_proxy_and_the_repository_host_hold_the_engines_socket(deployed):
    _, t = deployed
    holders = sorted(
        name
        for name, c in t.containers().items()
        if any(m.get("Source") == "/var/run/docker.sock" for m in c.get("Mounts", []))
    )
    assert holders == ["docker-proxy", "pgbackrest"]
    proxy = json.loads(docker("inspect", t.container("docker-proxy")).stdout)[0]
    assert proxy["Config"]["User"] != "" and proxy["HostConfig"]["CapDrop"] == ["ALL"]
