"""Stack-per-experiment at full strength: no perpetual diff, bad changes harmless, live changes safe,
stacks side by side."""

import secrets
import subprocess
import time
import uuid

import pytest

from pgha.clients import patroni_api
from pgha.clients import prometheus as metrics
from pgha.model.settings import PASSWORD_KEYS
from pgha.ops import target
from pgha.ops.drills import drill, probe, timeline
from tests.deploy.conftest import (
    ROOT,
    SECOND_STACK_PORTS,
    container_ids,
    docker_objects,
    leftovers,
    plaintext,
    pulumi,
    remove_stack,
)


def test_preview_of_an_unchanged_running_stack_shows_no_change(deployed):
    stack, _ = deployed
    result = pulumi("preview", "--expect-no-changes", stack=stack, check=False)
    assert result.returncode == 0, result.stdout[-3000:]


def test_a_bad_change_leaves_the_running_cluster_exactly_as_it_was(deployed):
    stack, t = deployed
    before = container_ids(t)
    pulumi("config", "set", "pgha:etcdNodes", "4", stack=stack)
    try:
        result = pulumi("up", "--yes", "--skip-preview", stack=stack, check=False)
    finally:
        pulumi("config", "rm", "pgha:etcdNodes", stack=stack)
    assert result.returncode != 0 and "pgha:etcdNodes: '4' is not allowed" in result.stdout
    assert container_ids(t) == before
    drill.wait_healthy(t, 60)


def _up_under_a_writer(stack, t, key, value):
    """Sets one config value and runs `pulumi up` while a writer commits; returns its attempts."""
    members = patroni_api.cluster(t.patroni_apis)["members"]
    probe.ensure_table(t)
    writer = probe.Probe(
        t, t.rw_endpoints, probe.writer(f"{key}-{uuid.uuid4().hex[:6]}"), {m["host"]: m["name"] for m in members}
    )
    writer.start()
    time.sleep(1)
    try:
        pulumi("config", "set", f"pgha:{key}", value, stack=stack)
        result = pulumi("up", "--yes", "--skip-preview", stack=stack, check=False)
        assert result.returncode == 0, result.stdout[-3000:]
        drill.wait_healthy(target.from_pulumi(stack), 180)
    finally:
        writer.stop()
    return writer.attempts


@pytest.mark.parametrize("nodes", ["5", "3"])
def test_scaling_out_and_in_fails_no_commit(deployed, nodes):
    stack, t = deployed
    prometheus_id = container_ids(t)["prometheus"]
    attempts = _up_under_a_writer(stack, t, "postgresNodes", nodes)
    failed = [a for a in attempts if not a.ok]
    print(f"postgresNodes -> {nodes}: {len(attempts) - len(failed)} commits, {len(failed)} failed")
    assert failed == []
    assert len(patroni_api.cluster(target.from_pulumi(stack).patroni_apis)["members"]) == int(nodes)
    # Prometheus follows: every node's three exporters and its Patroni are scraped, and Prometheus was not restarted.
    count = int(nodes)
    metrics.wait_targets(t.prometheus_url, {"patroni": count, "postgres": count, "pgbouncer": 2 * count}, 60)
    assert container_ids(t)["prometheus"] == prometheus_id


def test_a_reloadable_parameter_changes_live_without_a_failed_commit(deployed):
    stack, t = deployed
    attempts = _up_under_a_writer(stack, t, "postgresParameters", '{"work_mem": "48MB"}')
    assert [a for a in attempts if not a.ok] == []
    shown = subprocess.run(
        ["docker", "exec", f"pgha-{stack}-postgres-2", "psql", "-XAtc", "SHOW work_mem"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()
    assert shown == "48MB"
    assert timeline.longest_gap(attempts, attempts[0].start) < 1.0


def test_a_second_stack_runs_beside_and_goes_without_touching_the_first(deployed):
    _, t = deployed
    before = container_ids(t)
    other = f"t-{uuid.uuid4().hex[:6]}"
    objects_before = docker_objects()
    subprocess.run(["pulumi", "stack", "init", other], cwd=ROOT, capture_output=True, check=True, timeout=120)
    config = plaintext({"postgresNodes": 1, "etcdNodes": 1, "synchronousMode": "off"} | SECOND_STACK_PORTS)
    config += [a for k in PASSWORD_KEYS for a in ("--secret", f"pgha:{k}={secrets.token_urlsafe(18)}")]
    pulumi("config", "set-all", *config, stack=other)
    try:
        up = pulumi("up", "--yes", "--skip-preview", stack=other, check=False)
        assert up.returncode == 0, up.stdout[-3000:]
        drill.wait_healthy(target.from_pulumi(other), 120)
    finally:
        kept = remove_stack(other)
    assert kept, "destroy removed the second stack's backup repository"
    assert not leftovers(objects_before)
    assert container_ids(t) == before
    drill.wait_healthy(t, 60)
