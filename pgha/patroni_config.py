"""Patroni's dynamic configuration as a Pulumi resource: applied live through the REST API.

Settings Patroni keeps in etcd (synchronous mode, ttl, loop_wait, retry_timeout) change on a running
cluster with PATCH /config, with no container restart. A dynamic provider does that on create and on
update, so `pulumi config set` + `pulumi up` changes them in place. Standard library only: this code also
runs in the provider process Pulumi starts for dynamic resources.
"""
from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request

import pulumi
import pulumi.dynamic as dynamic

DEADLINE_S = 180.0


def _request(url: str, method: str = "GET", body: dict | None = None, password: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"patroni:{password}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers, method=method), timeout=5) as r:
        return json.loads(r.read() or b"{}")


def _apply(props: dict) -> None:
    """PATCH the wanted settings once the cluster has a leader, and check etcd took them."""
    wanted, deadline, last_error = props["config"], time.monotonic() + DEADLINE_S, "no answer yet"
    while time.monotonic() < deadline:
        for url in props["api_urls"]:
            try:
                members = _request(f"{url}/cluster").get("members", [])
                if not any(m["role"] == "leader" for m in members):
                    last_error = "no leader yet"
                    continue
                _request(f"{url}/config", "PATCH", wanted, props["password"])
                current = _request(f"{url}/config")
                if all(current.get(k) == v for k, v in wanted.items()):
                    return
                last_error = f"Patroni answered {current}"
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last_error = f"{url}: {exc}"
        time.sleep(1)
    raise RuntimeError(f"Patroni's dynamic configuration not applied within {DEADLINE_S:.0f}s: {last_error}")


class _Provider(dynamic.ResourceProvider):
    def create(self, props: dict) -> dynamic.CreateResult:
        _apply(props)
        return dynamic.CreateResult(id_="patroni-dynamic-config", outs=props)

    def diff(self, _id: str, olds: dict, news: dict) -> dynamic.DiffResult:
        changed = olds.get("config") != news.get("config") or olds.get("api_urls") != news.get("api_urls")
        return dynamic.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict, news: dict) -> dynamic.UpdateResult:
        _apply(news)
        return dynamic.UpdateResult(outs=news)


class PatroniDynamicConfig(dynamic.Resource):
    """The cluster-wide settings Patroni keeps in etcd, applied through `api_urls` with the REST password."""

    def __init__(self, name: str, api_urls: list[str], password: pulumi.Input[str], config: dict,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(_Provider(), name, {"api_urls": api_urls, "password": password, "config": config}, opts)
