"""Changing the stack's passwords on a running cluster: roles first, then each node's files, one node at a time.

PostgreSQL holds one password per role, so the order is: ALTER ROLE on the leader (replicas follow by WAL),
then node by node, the leader's first (its PgBouncer carries every write), rewrite the files that hold the
passwords inside the running containers and reload Patroni (POST /reload) and PgBouncer (SIGHUP), or restart the
exporters (which read theirs at start), and wait until the cluster is whole again before the next node. No
container is replaced.

Containers keep, as Pulumi sees them, the password files they were created with (ignore_changes): a
container replaced later for another reason starts with those, and is brought up to date here the same way.
This code also runs in the provider process Pulumi starts for dynamic resources.
"""

from __future__ import annotations

import subprocess
import time

from pgha import names
from pgha.clients import docker_api, patroni_api
from pgha.model import render

DEADLINE_S = 120.0
POSTGRES_UID = 999  # the fixed uid/gid of `postgres` in docker/patroni and docker/pgbouncer, and of the exporters' user
SECRET_FILE_MODE = 0o600
ROLE_ORDER = ("postgres", "replicator", "app", "pgbouncer_auth", "pgha_monitor")


def changed_roles(old_verifiers: dict, new_verifiers: dict) -> list[str]:
    """Roles whose SCRAM verifier differs, i.e. whose password changed."""
    return [role for role in ROLE_ORDER if role in new_verifiers and old_verifiers.get(role) != new_verifiers[role]]


def stale_containers(old: dict, new: dict) -> list[str]:
    """Containers whose password files must be rewritten: their content changed, or the container was replaced
    (it started with the files Pulumi last recorded). A container new to the stack got the current ones."""
    return sorted(
        name
        for name, spec in new.items()
        if name in old and (old[name]["files"] != spec["files"] or old[name]["id"] != spec["id"])
    )


def rollout_order(names: list[str], containers: dict, leader: str | None) -> list[str]:
    """The leader's node first (its PgBouncer carries every write), then the others by name; within a node,
    PgBouncer before Patroni."""

    def key(name: str) -> tuple:
        spec = containers[name]
        return (spec["member"] != leader, spec["member"], spec["reload"] == "patroni")

    return sorted(names, key=key)


def cluster_problems(api_urls: list[str], members: list[str]) -> list[str]:
    """What keeps the cluster from whole, as the first Patroni member that answers sees it."""
    for url in api_urls:
        try:
            return patroni_api.member_problems(patroni_api.rest(f"{url}/cluster")[1]["members"], members)
        except (OSError, ValueError, KeyError):
            continue
    return ["no Patroni REST API answered"]


def wait_whole(api_urls: list[str], members: list[str], when: str) -> None:
    deadline, problems = time.monotonic() + DEADLINE_S, ["not asked yet"]
    while time.monotonic() < deadline:
        problems = cluster_problems(api_urls, members)
        if not problems:
            return
        time.sleep(0.5)
    raise RuntimeError(f"cluster not whole within {DEADLINE_S:.0f}s {when}: {'; '.join(problems)}")


def leader(api_urls: list[str], members: list[str]) -> str:
    wait_whole(api_urls, members, "before changing any password")
    return patroni_api.current_leader(api_urls)


def role_sql(verifiers: dict[str, str]) -> str:
    """ALTER ROLE ... PASSWORD with SCRAM verifiers, never plain passwords; the exporters' role is made if missing."""
    return "".join(
        render.monitor_role_sql(verifier)
        if role == render.MONITOR_USER
        else f"ALTER ROLE \"{role}\" PASSWORD '{verifier}';\n"
        for role, verifier in verifiers.items()
    )


def alter_roles(container: str, verifiers: dict[str, str]) -> None:
    """role_sql in the leader's own container as the local superuser (peer authentication). The SQL goes through
    stdin, not the command line."""
    sql = role_sql(verifiers)
    command = ["docker", "exec", "-i", container, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres"]
    result = subprocess.run(command, input=sql, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"{container}: ALTER ROLE {', '.join(verifiers)} failed: {result.stderr.strip()[-300:]}")


def reload_patroni(api_url: str, passwords: list[str]) -> None:
    """POST /reload with the first of `passwords` the node accepts (the old one, while its file is the old one),
    then wait until it accepts the first (the new one): the reload took."""
    accepted = next((p for p in passwords if patroni_api.rest(f"{api_url}/reload", "POST", {}, p)[0] == 202), None)
    if accepted is None:
        raise RuntimeError(f"{api_url}: Patroni refused /reload with the old and the new REST API password")
    deadline = time.monotonic() + DEADLINE_S
    while patroni_api.rest(f"{api_url}/reload", "POST", {}, passwords[0])[0] != 202:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{api_url}: Patroni did not take its new REST API password within {DEADLINE_S:.0f}s")
        time.sleep(0.5)


def rewrite(name: str, spec: dict, api_urls: list[str], api_passwords: list[str]) -> None:
    """Writes a container's password files in place and has its program read them again."""
    for path, content in sorted(spec["files"].items()):
        docker_api.put_file(name, path, content, POSTGRES_UID, POSTGRES_UID, SECRET_FILE_MODE)
    if spec["reload"] == "patroni":
        index = names.member_index(spec["member"])
        reload_patroni(api_urls[index - 1], api_passwords)
    elif spec["reload"] == "restart":  # an exporter, which reads its password once, at start
        subprocess.run(["docker", "restart", "--time", "5", name], check=True, capture_output=True, timeout=60)
    else:
        # From inside (docker exec), not Docker's kill API: Docker 20.10 takes any signal sent through that API for
        # a stop by hand, and would not restart the container after its next crash (measured here).
        subprocess.run(["docker", "exec", name, "sh", "-c", "kill -HUP 1"], check=True, capture_output=True, timeout=30)


def apply(old: dict, new: dict) -> None:
    """Brings the running cluster to `new`'s passwords, from `old` (the resource's previous inputs)."""
    roles = changed_roles(old["verifiers"], new["verifiers"])
    names = stale_containers(old["containers"], new["containers"])
    if not roles and not names:
        return
    members = sorted({spec["member"] for spec in new["containers"].values()})
    current = leader(new["api_urls"], members)
    if roles:
        leader_container = next(
            n for n, s in new["containers"].items() if s["member"] == current and s["reload"] == "patroni"
        )
        alter_roles(leader_container, {role: new["verifiers"][role] for role in roles})
    api_passwords = [new["api_password"], old["api_password"]]
    for name in rollout_order(names, new["containers"], current):
        rewrite(name, new["containers"][name], new["api_urls"], api_passwords)
        wait_whole(new["api_urls"], members, f"after rewriting {name}'s password files")
