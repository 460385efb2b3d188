"""Patroni's dynamic configuration as a Pulumi resource: applied live through the REST API.

Settings Patroni keeps in etcd (synchronous mode, ttl, loop_wait, retry_timeout) change on a running
cluster with PATCH /config, with no container restart. A dynamic provider does that on create and on
update, so `pulumi config set` + `pulumi up` changes them in place. This code also runs in the
provider process Pulumi starts for dynamic resources.
"""

from __future__ import annotations

import time

import pulumi
import pulumi.dynamic as dynamic

from pgha.actions import rolling
from pgha.clients import patroni_api

DEADLINE_S = 180.0


def _with_removals(wanted: dict, old: dict | None) -> dict:
    """PATCH merges: a PostgreSQL parameter dropped from the stack must be sent as null to be removed."""
    old_parameters = ((old or {}).get("postgresql") or {}).get("parameters") or {}
    parameters = dict(wanted["postgresql"]["parameters"])
    parameters.update({name: None for name in old_parameters if name not in parameters})
    return wanted | {"postgresql": {"parameters": parameters}}


def _took(current: dict, wanted: dict) -> bool:
    current_parameters = (current.get("postgresql") or {}).get("parameters") or {}
    flat = all(current.get(k) == v for k, v in wanted.items() if k != "postgresql")
    return flat and all(str(current_parameters.get(k)) == v for k, v in wanted["postgresql"]["parameters"].items())


def _holds(current: dict, patch: dict) -> bool:
    """Whether etcd already holds what the patch sets, and none of the parameters it removes."""
    parameters = patch["postgresql"]["parameters"]
    kept = {k: v for k, v in parameters.items() if v is not None}
    current_parameters = (current.get("postgresql") or {}).get("parameters") or {}
    removed_gone = all(k not in current_parameters for k, v in parameters.items() if v is None)
    return removed_gone and _took(current, patch | {"postgresql": {"parameters": kept}})


def _apply(props: dict, old: dict | None = None) -> None:
    """PATCH the wanted settings once the cluster has a leader, check etcd took them, then restart
    the nodes a changed parameter needs restarted, one at a time."""
    wanted, deadline, last_error = props["config"], time.monotonic() + DEADLINE_S, "no answer yet"
    patch = _with_removals(wanted, old)
    while time.monotonic() < deadline:
        for url in props["api_urls"]:
            try:
                members = patroni_api.call(f"{url}/cluster").get("members", [])
                if not any(m["role"] == "leader" for m in members):
                    last_error = "no leader yet"
                    continue
                if _holds(patroni_api.call(f"{url}/config"), patch):
                    return  # already so: a new cluster bootstrapped with it, or nothing changed
                patroni_api.call(f"{url}/config", "PATCH", patch, props["password"])
                current = patroni_api.call(f"{url}/config")
                if _took(current, wanted):
                    rolling.after_two_loops(props["api_urls"])
                    rolling.restart(props["api_urls"], props["password"], pending_only=True)
                    return
                last_error = f"Patroni answered {current}"
            except (OSError, ValueError) as exc:
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

    def update(self, _id: str, olds: dict, news: dict) -> dynamic.UpdateResult:
        _apply(news, olds.get("config"))
        return dynamic.UpdateResult(outs=news)


class PatroniDynamicConfig(dynamic.Resource):
    """The cluster-wide settings Patroni keeps in etcd, applied through `api_urls` with the REST password."""

    def __init__(
        self,
        name: str,
        api_urls: list[str],
        password: pulumi.Input[str],
        config: dict,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(_Provider(), name, {"api_urls": api_urls, "password": password, "config": config}, opts)
