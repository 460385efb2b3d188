"""Rolling replacement of the etcd and PostgreSQL members' containers, made safe.

A new image or a changed configuration file replaces every member's container. Pulumi replaces them one at a time
in the order the program chains them (components/etcd.py by index; components/patroni.py the replicas, then the
leader it found when the program ran). Two resources of this module sit in those chains: MemberBack after each
member, which, when its container was replaced, waits until the member is back (etcd: healthy; PostgreSQL:
streaming, a quorum standby again) before the next one is touched; and Handover before the PostgreSQL leader,
which, when the leader's container is about to be replaced, switches over to a replica first, so the leader pools
hold the writers' commits instead of a failover failing them. Both do nothing when created (a new stack, a new
member). This code also runs in Pulumi's dynamic provider process.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pulumi
import pulumi.dynamic as dynamic

from pgha.actions import rolling
from pgha.clients import patroni_api


class _MemberBackProvider(dynamic.ResourceProvider):
    def create(self, props: dict) -> dynamic.CreateResult:
        return dynamic.CreateResult(id_=props["member"], outs=props)

    def diff(self, _id: str, olds: dict, news: dict) -> dynamic.DiffResult:
        return dynamic.DiffResult(changes=olds != news, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict, news: dict) -> dynamic.UpdateResult:
        if olds.get("container_id") != news["container_id"]:
            if "patroni" in news["check"]:
                rolling.wait_back(news["check"]["patroni"], news["member"])
            else:
                _wait_etcd_healthy(news["check"]["etcd"], news["member"])
        return dynamic.UpdateResult(outs=news)


def _wait_etcd_healthy(url: str, member: str) -> None:
    """Until the member's /health says it is part of a cluster with a leader (the host reaches the stack's subnet)."""
    deadline, last = time.monotonic() + rolling.DEADLINE_S, "no answer yet"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if json.loads(response.read()).get("health") == "true":
                    return
                last = "unhealthy"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(rolling.POLL_S)
    raise RuntimeError(f"{member} was not healthy again within {rolling.DEADLINE_S:.0f}s: {last}")


class MemberBack(dynamic.Resource):
    """Done once `member`'s container, when replaced, is back: `check` is {"patroni": the REST API URLs} or
    {"etcd": the member's /health URL}."""

    def __init__(
        self,
        name: str,
        member: str,
        container_id: pulumi.Input[str],
        check: dict,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            _MemberBackProvider(), name, {"member": member, "container_id": container_id, "check": check}, opts
        )


class _HandoverProvider(dynamic.ResourceProvider):
    def create(self, props: dict) -> dynamic.CreateResult:
        return dynamic.CreateResult(id_="handover", outs=props)

    def diff(self, _id: str, olds: dict, news: dict) -> dynamic.DiffResult:
        return dynamic.DiffResult(changes=olds != news, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict, news: dict) -> dynamic.UpdateResult:
        leader = patroni_api.leader(news["api_urls"])
        old, new = olds.get("fingerprints", {}), news["fingerprints"]
        if leader is not None and leader in new and old.get(leader) != new[leader]:  # its container is to be replaced
            rolling.switch_over_from(news["api_urls"], news["password"], leader)
        return dynamic.UpdateResult(outs=news)


class Handover(dynamic.Resource):
    """Switches over away from the leader when what its container is made of changes. `fingerprints`: for each
    member, a digest of the inputs that replace its container when they change (image, configuration file)."""

    def __init__(
        self,
        name: str,
        fingerprints: pulumi.Input[dict],
        api_urls: list[str],
        password: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            _HandoverProvider(), name, {"fingerprints": fingerprints, "api_urls": api_urls, "password": password}, opts
        )
