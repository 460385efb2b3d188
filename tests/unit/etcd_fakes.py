"""etcd as its v3 JSON gateway answers, in memory, for the scripts baked into the images (the failover watcher, the
PgBouncer pools). They speak to it with urllib, and the pools watch over http.client, so the fake stands in for
urllib.request.urlopen and http.client.HTTPConnection: every request is recorded with the endpoint it went to, and an
endpoint can be down, cut off from the quorum, or answer something that is not JSON."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator

ENDPOINTS = ["http://10.0.0.11:2379", "http://10.0.0.12:2379", "http://10.0.0.13:2379"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


class Response:
    """What urlopen returns: a body read whole (read) or as it comes (read1), one chunk a call. A chunk that is an
    exception is raised instead (a timeout: the stream said nothing for that long)."""

    def __init__(self, chunks: Iterator[bytes | BaseException]):
        self.chunks = chunks

    def read(self) -> bytes:
        return b"".join(chunk for chunk in self.chunks if isinstance(chunk, bytes))

    def read1(self, size: int = -1) -> bytes:
        chunk = next(self.chunks, b"")
        if isinstance(chunk, BaseException):
            raise chunk
        return chunk

    def close(self) -> None:
        pass

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class FakeEtcd:
    """One etcd cluster's keys, revisions and leases. `down`: endpoints that refuse connections; `cut_off`: members
    cut off from the quorum, whose linearizable reads fail ("no leader") and whose watches open and then say nothing;
    `garbage`: endpoints that answer with a page that is not JSON (a proxy's error page, a cut answer); `before`: a
    path -> a write run once just before that request is answered (someone else's write between two of ours).
    A watch with nothing to say times out after its connection's timeout, waited for up to `silence_wait_s` (a
    test's real time kept short); after `max_watches` watches were opened, the next raises SystemExit."""

    def __init__(self, endpoints: list[str] = ENDPOINTS):
        self.endpoints = endpoints
        self.keys: dict[str, dict] = {}  # key -> value, create_revision, mod_revision, lease
        self.revision = 1
        self.history: list[tuple[int, str, str | None]] = []  # (revision, key, value; None: deleted)
        self.down: set[str] = set()
        self.cut_off: set[str] = set()
        self.garbage: set[str] = set()
        self.before: dict[str, Callable[[], None]] = {}
        self.requests: list[tuple[str, str, dict]] = []  # (endpoint, path, body), in order
        self.watches: list[dict] = []  # each watch opened: endpoint, start_revision, timeout
        self.silence_wait_s = 0.0
        self.max_watches = 10

    # --- what the rest of the cluster does ---------------------------------------------------------------------

    def put(self, key: str, value: str, lease: int = 0) -> None:
        self.revision += 1
        create = self.keys[key]["create_revision"] if key in self.keys else self.revision
        self.keys[key] = {"value": value, "create_revision": create, "mod_revision": self.revision, "lease": lease}
        self.history.append((self.revision, key, value))

    def delete(self, key: str) -> None:
        if self.keys.pop(key, None) is not None:
            self.revision += 1
            self.history.append((self.revision, key, None))

    def expire(self, lease: int) -> None:
        """The lease's TTL ran out (its holder died): every key attached to it goes."""
        for key in [k for k, kv in self.keys.items() if kv["lease"] == lease]:
            self.delete(key)

    def value(self, key: str) -> str | None:
        return self.keys[key]["value"] if key in self.keys else None

    # --- the gateway --------------------------------------------------------------------------------------------

    def urlopen(self, request: urllib.request.Request, timeout: float | None = None) -> Response:
        url = urllib.parse.urlsplit(request.full_url)
        endpoint, path = f"{url.scheme}://{url.netloc}", url.path
        data = request.data
        assert isinstance(data, bytes)
        body = json.loads(data)
        self.requests.append((endpoint, path, body))
        if endpoint in self.down:
            raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
        if endpoint in self.cut_off:
            raise urllib.error.URLError("etcdserver: no leader")  # what a linearizable read gets from a minority
        if endpoint in self.garbage:
            return Response(iter([b"<html><body>502 Bad Gateway</body></html>"]))
        if path in self.before:
            self.before.pop(path)()
        return Response(iter([json.dumps(self.answer(path, body)).encode()]))

    def answer(self, path: str, body: dict) -> dict:
        if path == "/v3/kv/range":
            return self._range(body)
        if path == "/v3/kv/txn":
            return self._txn(body)
        raise AssertionError(f"the fake etcd does not serve {path}")

    def header(self) -> dict:
        return {"cluster_id": "1", "member_id": "2", "revision": str(self.revision), "raft_term": "3"}

    def kv(self, key: str) -> dict:
        """A key as the gateway gives it: int64s as strings, a zero lease left out (proto3 JSON)."""
        kv = self.keys[key]
        answer = {"key": b64(key), "value": b64(kv["value"]), "version": "1"}
        answer |= {"create_revision": str(kv["create_revision"]), "mod_revision": str(kv["mod_revision"])}
        return answer | ({"lease": str(kv["lease"])} if kv["lease"] else {})

    def _range(self, body: dict) -> dict:
        start = unb64(body["key"])
        end = unb64(body["range_end"]) if body.get("range_end") else None
        found = sorted(k for k in self.keys if (k == start if end is None else start <= k and (end == "\0" or k < end)))
        answer = {"header": self.header(), "kvs": [self.kv(k) for k in found], "count": str(len(found))}
        return answer if found else {"header": self.header()}

    def _holds(self, compare: dict) -> bool:
        key, target = unb64(compare["key"]), compare.get("target", "VERSION")
        assert compare.get("result", "EQUAL") == "EQUAL", "the fake compares for equality only"
        kv = self.keys.get(key)
        if target == "VALUE":
            return kv is not None and kv["value"] == unb64(compare.get("value", ""))
        if target == "MOD":
            return int(compare.get("mod_revision", 0)) == (kv["mod_revision"] if kv else 0)
        if target == "CREATE":
            return int(compare.get("create_revision", 0)) == (kv["create_revision"] if kv else 0)
        raise AssertionError(f"the fake etcd does not compare {target}")

    def _txn(self, body: dict) -> dict:
        succeeded = all(self._holds(c) for c in body.get("compare", []))
        responses = []
        for op in body.get("success" if succeeded else "failure", []):
            if "requestPut" in op:
                put = op["requestPut"]
                self.put(unb64(put["key"]), unb64(put["value"]), int(put.get("lease", 0)))
                responses.append({"response_put": {"header": self.header()}})
            elif "requestDeleteRange" in op:
                self.delete(unb64(op["requestDeleteRange"]["key"]))
                responses.append({"response_delete_range": {"header": self.header()}})
            else:
                responses.append({"response_range": self._range(op["requestRange"])})
        answer: dict = {"header": self.header(), "responses": responses}
        return answer | ({"succeeded": True} if succeeded else {})  # proto3 JSON leaves out a false

    # --- watches, over http.client --------------------------------------------------------------------------------

    def HTTPConnection(self, host: str, port: int | None = None, timeout: float | None = None) -> Connection:
        return Connection(self, f"http://{host}:{port}", timeout)

    def watch(self, endpoint: str, body: dict, timeout: float | None) -> Response:
        if len(self.watches) >= self.max_watches:
            raise SystemExit(f"{self.max_watches} watches opened")
        create = body["create_request"]
        start, end = unb64(create["key"]), unb64(create["range_end"])
        self.watches.append({"endpoint": endpoint, "start_revision": create["start_revision"], "timeout": timeout})
        if "/v3/watch" in self.before:
            self.before.pop("/v3/watch")()
        return Response(self._stream(endpoint, start, end, int(create["start_revision"]), timeout))

    def _stream(self, endpoint: str, start: str, end: str, revision: int, timeout: float | None):
        yield json.dumps({"result": {"header": self.header(), "created": True}}).encode() + b"\n"
        sent = 0
        while endpoint not in self.cut_off:  # a member cut off hears of no change
            changes = [h for h in self.history if h[0] >= revision and start <= h[1] < end][sent:]
            if not changes:
                break
            sent += len(changes)
            events = [self._event(*change) for change in changes]
            yield json.dumps({"result": {"header": self.header(), "events": events}}).encode() + b"\n"
        time.sleep(min(timeout or 0.0, self.silence_wait_s))
        yield TimeoutError("timed out")

    def _event(self, revision: int, key: str, value: str | None) -> dict:
        if value is None:
            return {"type": "DELETE", "kv": {"key": b64(key), "mod_revision": str(revision)}}
        return {"kv": {"key": b64(key), "value": b64(value), "mod_revision": str(revision)}}  # PUT: the default


class Connection:
    """http.client.HTTPConnection to one endpoint: the request sent, the watch's answer streamed."""

    def __init__(self, etcd: FakeEtcd, endpoint: str, timeout: float | None):
        self.etcd, self.endpoint, self.timeout = etcd, endpoint, timeout
        self.response: Response | None = None

    def request(self, method: str, path: str, body: str, headers: dict | None = None) -> None:
        assert (method, path) == ("POST", "/v3/watch")
        if self.endpoint in self.etcd.down:
            raise ConnectionRefusedError(111, "Connection refused")
        self.response = self.etcd.watch(self.endpoint, json.loads(body), self.timeout)

    def getresponse(self) -> Response:
        assert self.response is not None
        return self.response

    def close(self) -> None:
        pass
