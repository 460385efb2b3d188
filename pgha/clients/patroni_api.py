"""Patroni's REST API, as pgha uses it."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterable

import requests

from pgha import names

TIMEOUT = 2.0
# Patroni answers a switchover once it is done, or gives up waiting for it; after an upheaval (etcd just back) that
# takes well over the usual second or two.
SWITCHOVER_TIMEOUT_S = 30.0


def rest(
    url: str, method: str = "GET", body: dict | None = None, password: str | None = None, timeout: float = 5.0
) -> tuple[int, dict]:
    """One call to one member, standard library only (the dynamic providers make it too): the HTTP status and
    the JSON body ({} when there is none). An HTTP error comes back as its status; no answer raises OSError."""
    headers = {"Content-Type": "application/json"}
    if password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"patroni:{password}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data, headers=headers, method=method), timeout=timeout
        ) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    return status, json.loads(text) if text.startswith(b"{") else {}


def call(
    url: str, method: str = "GET", body: dict | None = None, password: str | None = None, timeout: float = 5.0
) -> dict:
    """rest() for callers that want the answer or an exception: an HTTP error raises ConnectionError too."""
    status, answer = rest(url, method, body, password, timeout)
    if status >= 400:
        raise ConnectionError(f"{method} {url}: HTTP {status}")
    return answer


def _first_answer(api_urls: list[str], path: str) -> dict:
    """GET `path` from the first member that answers; raises ConnectionError when none does."""
    errors = []
    for url in api_urls:
        try:
            response = requests.get(f"{url}{path}", timeout=TIMEOUT)
            response.raise_for_status()
            return response.json()
        except requests.RequestException as exc:
            errors.append(f"{url}: {exc.__class__.__name__}")
    raise ConnectionError(f"no Patroni REST API answered {path}: " + "; ".join(errors))


def cluster(api_urls: list[str]) -> dict:
    return _first_answer(api_urls, "/cluster")


def dynamic_config(api_urls: list[str]) -> dict:
    """The cluster-wide settings Patroni keeps in etcd (ttl, loop_wait, ...)."""
    return _first_answer(api_urls, "/config")


def leader(api_urls: list[str]) -> str | None:
    members = cluster(api_urls)["members"]
    return next((m["name"] for m in members if m["role"] == "leader"), None)


def current_leader(api_urls: list[str]) -> str:
    """The leader, for work that needs one now; RuntimeError during a failover (there is no state to work on)."""
    found = leader(api_urls)
    if found is None:
        raise RuntimeError("no leader")
    return found


def member_problems(members: list[dict], expected: Iterable[str]) -> list[str]:
    """What keeps Patroni's members (its /cluster view) from whole: one leader, every other member streaming on
    one timeline, every expected member present."""
    found = []
    leaders = [m for m in members if m["role"] == "leader"]
    if len(leaders) != 1:
        found.append(f"{len(leaders)} Patroni leaders")
    found += [
        f"{m['name']} is {m['state']}, not streaming"
        for m in members
        if m["role"] != "leader" and m["state"] != "streaming"
    ]
    if members and len({m.get("timeline") for m in members}) != 1:
        found.append("members are on different timelines")
    missing = sorted(set(expected) - {m["name"] for m in members})
    return found + [f"{name} is not a Patroni member" for name in missing]


def switchover(api_urls: list[str], password: str, candidate: str | None = None) -> str:
    """Planned switchover through Patroni; returns Patroni's answer. Unsafe: needs the API credentials."""
    current = leader(api_urls)
    if current is None:
        raise RuntimeError("no leader to switch over from")
    body = {"leader": current} | ({"candidate": candidate} if candidate else {})
    # The leader's own API first: Patroni wakes the HA loop of the node it was asked on, so the leader demotes at
    # once rather than at its next loop (up to loop_wait later), which every held client would wait for.
    leader_url = api_urls[names.member_index(current) - 1]
    errors = []
    for url in sorted(api_urls, key=lambda u: u != leader_url):
        try:
            response = requests.post(
                f"{url}/switchover", json=body, auth=("patroni", password), timeout=SWITCHOVER_TIMEOUT_S
            )
        except requests.RequestException as exc:
            errors.append(f"{url}: {exc.__class__.__name__}")
            continue
        if response.status_code != 200:
            raise RuntimeError(f"switchover refused: {response.status_code} {response.text.strip()}")
        return response.text.strip()
    raise ConnectionError("no Patroni REST API answered: " + "; ".join(errors))
