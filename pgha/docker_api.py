"""A minimal Docker Engine API client over the local unix socket (standard library only)."""
from __future__ import annotations

import http.client
import io
import json
import socket
import tarfile
import time
import urllib.parse

DOCKER_SOCKET = "/var/run/docker.sock"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class DockerError(RuntimeError):
    pass


def request(method: str, path: str, query: dict | None = None, body: dict | None = None, timeout: float = 30.0,
            tar: bytes | None = None):
    """One API call, with a JSON body or a tar archive; returns the decoded JSON body (None when empty)."""
    url = path + ("?" + urllib.parse.urlencode(query) if query else "")
    conn = _UnixConnection(DOCKER_SOCKET, timeout)
    payload = json.dumps(body).encode() if body is not None else tar
    headers = {"Content-Type": "application/json" if body is not None else "application/x-tar"} if payload is not None else {}
    try:
        conn.request(method, url, body=payload, headers=headers)
        response = conn.getresponse()
        body = response.read()
    except OSError as exc:
        raise DockerError(f"Docker engine not reachable at {DOCKER_SOCKET}: {exc}") from exc
    finally:
        conn.close()
    if response.status >= 400:
        raise DockerError(f"{method} {path}: {response.status} {body.decode(errors='replace').strip()}")
    return json.loads(body) if body else None


def labelled(kind: str, *labels: str) -> list[dict]:
    """Containers (all, running or not), volumes or networks carrying every label (`key` or `key=value`)."""
    query = {"filters": json.dumps({"label": list(labels)})}
    if kind == "containers":
        return request("GET", "/containers/json", {**query, "all": "1"})
    if kind == "volumes":
        return request("GET", "/volumes", query)["Volumes"] or []
    return request("GET", f"/{kind}", query)


def put_file(container: str, path: str, content: str, uid: int, gid: int, mode: int) -> None:
    """Writes one file into a container, running or not, replacing what was there (PUT /archive)."""
    directory, name = path.rsplit("/", 1)
    data = content.encode()
    info = tarfile.TarInfo(name)
    info.size, info.uid, info.gid, info.mode, info.mtime = len(data), uid, gid, mode, time.time()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        tar.addfile(info, io.BytesIO(data))
    request("PUT", f"/containers/{container}/archive", {"path": directory or "/"}, tar=archive.getvalue())

