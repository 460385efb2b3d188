"""A stack made by Pulumi's own verbs with nothing set, beside the session's: it deploys on ports of its own; deployed
again after `pulumi destroy` it is a new cluster, and its predecessor's backups stay listed and restorable."""

import subprocess
import uuid
from urllib.parse import urlsplit

import psycopg

from pgha.actions import backups as pgbackrest
from pgha.ops import target
from pgha.ops.backups import backups
from pgha.ops.drills import drill
from tests.deploy.conftest import ROOT, docker_objects, leftovers, plaintext, pulumi, remove_stack

HEALTHY_S = 180


def up(stack: str) -> target.Target:
    done = pulumi("up", "--yes", "--skip-preview", stack=stack, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    deployed = target.from_pulumi(stack)
    drill.wait_healthy(deployed, HEALTHY_S)
    return deployed


def destroy(stack: str) -> None:
    done = pulumi("destroy", "--yes", "--skip-preview", stack=stack, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def published(t: target.Target) -> set[int]:
    """Every port the stack publishes on this host."""
    urls = [*t.stats_urls, *t.patroni_apis, *([t.prometheus_url] if t.prometheus_url else [])]
    return {port for _, port in [*t.rw_endpoints, *t.ro_endpoints]} | {urlsplit(u).port or 0 for u in urls}


def write(t: target.Target, marker: str) -> None:
    with psycopg.connect(**t.connection_params(t.rw_endpoints), connect_timeout=10) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS history (marker text)")
        conn.execute("INSERT INTO history VALUES (%s)", (marker,))


def markers(t: target.Target) -> list[str]:
    with psycopg.connect(**t.connection_params(t.rw_endpoints), connect_timeout=10) as conn:
        if conn.execute("SELECT to_regclass('history')").fetchone() == (None,):
            return []
        return [row[0] for row in conn.execute("SELECT marker FROM history")]


def test_a_stack_with_nothing_set_deploys_beside_and_again_after_destroy_with_the_earlier_backups_restorable(deployed):
    session = target.from_pulumi(deployed[0])
    name = f"t-{uuid.uuid4().hex[:6]}"
    before = docker_objects()
    subprocess.run(["pulumi", "stack", "init", name], cwd=ROOT, capture_output=True, check=True, timeout=120)
    try:
        first = up(name)
        assert not published(first) & published(session), "the new stack took a port of the session's"
        marker = uuid.uuid4().hex
        write(first, marker)
        pgbackrest.check(name)  # the WAL holding the row reaches the repository
        destroy(name)

        second = up(name)
        assert markers(second) == [], "deployed again, the stack must be a new cluster with a history of its own"
        clusters = backups.listing(name, None)
        assert list(clusters) == [1, 2], clusters.keys()
        assert all(c["backup"] for c in clusters.values()), "each cluster has its first full backup"
        destroy(name)

        pulumi("config", "set-all", *plaintext({"restoreFrom": name, "restoreCluster": 1}), stack=name)
        restored = up(name)
        assert markers(restored) == [marker], "cluster 1 restored to the end of its archive"
        assert list(backups.listing(name, None)) == [1, 2]
    finally:
        remove_stack(name)
    assert not leftovers(before)
