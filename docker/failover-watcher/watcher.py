"""pgha failover watcher: releases a dead primary's leader lock at once, instead of at lock expiry.

The Docker engine knows the moment a PostgreSQL container dies (its processes are gone, so it can no
longer accept writes). On that `die` event this watcher asks etcd, in one transaction guarded by
"the leader key still names that member", to delete the leader key and to replace the member's key by
one without `api_url`, so the candidate neither waits for the lock's TTL nor for a 2 s probe of the
dead node's REST API. A paused or partitioned primary is alive: no `die` event, so it goes the TTL way.
Standard library only; runs in its own container with the Docker socket mounted read-only.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DOCKER_SOCKET = "/var/run/docker.sock"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def release_txn(prefix: str, member: str, member_value: str | None) -> dict:
    """The etcd v3 transaction (JSON gateway form): if leader == member, delete it and strip the
    member's api_url. `prefix` is Patroni's `<namespace><scope>` with no trailing slash."""
    leader_key, member_key = f"{prefix}/leader", f"{prefix}/members/{member}"
    success = [{"requestDeleteRange": {"key": b64(leader_key)}}]
    if member_value:
        data = {k: v for k, v in json.loads(member_value).items() if k != "api_url"}
        data["state"] = "stopped"
        success.append({"requestPut": {"key": b64(member_key), "value": b64(json.dumps(data, separators=(",", ":")))}})
    return {
        "compare": [{"key": b64(leader_key), "target": "VALUE", "result": "EQUAL", "value": b64(member)}],
        "success": success,
    }


def dead_member(event: dict, stack: str) -> str | None:
    """The Patroni member whose container just died, for this stack's postgres containers only."""
    attributes = event.get("Actor", {}).get("Attributes", {})
    if event.get("Type") != "container" or event.get("Action") != "die":
        return None
    if attributes.get("pgha.stack") != stack or attributes.get("pgha.role") != "postgres":
        return None
    return attributes.get("pgha.member")


class Etcd:
    def __init__(self, endpoints: list[str]):
        self.endpoints = endpoints

    def call(self, path: str, body: dict) -> dict:
        errors = []
        for endpoint in self.endpoints:
            request = urllib.request.Request(f"{endpoint}{path}", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    return json.loads(response.read())
            except (urllib.error.URLError, OSError) as exc:
                errors.append(f"{endpoint}: {exc}")
        raise ConnectionError("; ".join(errors))

    def get(self, key: str) -> str | None:
        kvs = self.call("/v3/kv/range", {"key": b64(key)}).get("kvs", [])
        return base64.b64decode(kvs[0]["value"]).decode() if kvs else None


def release(etcd: Etcd, prefix: str, member: str) -> bool:
    member_value = etcd.get(f"{prefix}/members/{member}")
    return bool(etcd.call("/v3/kv/txn", release_txn(prefix, member, member_value)).get("succeeded"))


class _UnixConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(DOCKER_SOCKET)


def docker_events(stack: str):
    """Yields the engine's container `die` events for this stack, as they happen."""
    filters = {"type": ["container"], "event": ["die"], "label": [f"pgha.stack={stack}", "pgha.role=postgres"]}
    conn = _UnixConnection("localhost")
    conn.request("GET", "/events?" + urllib.parse.urlencode({"filters": json.dumps(filters)}))
    response = conn.getresponse()
    decoder, buffer = json.JSONDecoder(), ""
    while chunk := response.read1(65536).decode():
        buffer += chunk
        while buffer.strip():
            try:
                event, end = decoder.raw_decode(buffer.lstrip())
            except json.JSONDecodeError:
                break
            buffer = buffer.lstrip()[end:]
            yield event


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--prefix", required=True, help="Patroni's namespace + scope, e.g. /pgha/pgha-dev")
    parser.add_argument("--etcd", required=True, help="comma-separated etcd client URLs")
    args = parser.parse_args(argv)
    etcd = Etcd(args.etcd.split(","))
    log(f"watching {args.stack}'s postgres containers; lock prefix {args.prefix}")
    for event in docker_events(args.stack):
        member = dead_member(event, args.stack)
        if member:
            try:
                released = release(etcd, args.prefix, member)
                log(f"{member} died: " + ("leader lock released" if released else "it held no lock; nothing to do"))
            except ConnectionError as exc:
                log(f"{member} died, etcd unreachable, the lock will expire by TTL: {exc}")
    log("the Docker event stream ended")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
