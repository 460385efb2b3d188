"""Generated passwords live in the stack's state: used unless the config sets one, the same from any checkout;
changing one on the running stack is rolled out live."""

import dataclasses
import secrets
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import requests

from components.credentials import LENGTH
from pgha.clients import patroni_api
from pgha.model.settings import PASSWORD_KEYS
from pgha.ops import target
from pgha.ops.drills import drill, probe, timeline
from tests.deploy.conftest import CONFIGURED_PASSWORD, ROOT, container_ids, generated_passwords, pulumi


def test_every_password_is_generated_into_the_state_and_a_configured_one_wins(deployed):
    stack, t = deployed
    generated = generated_passwords(stack)
    assert sorted(generated) == sorted(PASSWORD_KEYS)
    assert all(len(value) == LENGTH for value in generated.values())
    assert t.password == CONFIGURED_PASSWORD[1] != generated["appPassword"]
    assert t.api_password == generated["patroniApiPassword"]
    stack_file = (ROOT / f"Pulumi.{stack}.yaml").read_text()
    assert [key for key in PASSWORD_KEYS if key in stack_file] == ["appPassword"]


def fresh_checkout(dest: Path) -> None:
    """What a clone of this tree holds once committed: every file git tracks or would track (uncommitted
    changes included, so the test checks this tree's code), nothing git ignores (venv, stack files of tests)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)


def test_a_second_checkout_previews_the_running_stack_with_no_change(deployed, tmp_path):
    """As a second clone of the repository would: its own path, no state of its own, the same backend."""
    stack, _ = deployed
    clone = tmp_path / "pgha"
    fresh_checkout(clone)
    (clone / "venv").symlink_to((ROOT / "venv").resolve())  # what setup makes in every checkout
    # A test stack's file is gitignored; in a real second clone it is committed, like Pulumi.dev.yaml.
    stack_file = f"Pulumi.{stack}.yaml"
    shutil.copy2(ROOT / stack_file, clone / stack_file)
    result = subprocess.run(
        ["pulumi", "preview", "--expect-no-changes", "--non-interactive", "--stack", stack],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert (clone / stack_file).read_text() == (ROOT / stack_file).read_text(), "the preview rewrote the stack file"


def logs_in(t: target.Target, password: str) -> bool:
    """Whether the application role logs in through the read-write endpoint with `password`."""
    try:
        with psycopg.connect(
            host=t.rw[0], port=t.rw[1], dbname=t.database, user=t.user, password=password, connect_timeout=3
        ) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError as exc:
        assert "authentication failed" in str(exc), exc
        return False


def set_password(stack: str, key: str, value: str | None) -> None:
    """`value` None: back to the generated password."""
    if value is None:
        pulumi("config", "rm", f"pgha:{key}", stack=stack)
    else:
        pulumi("config", "set", "--secret", f"pgha:{key}", value, stack=stack)


def up_under_a_writer(stack: str, t: target.Target, key: str, value: str | None) -> tuple[list, float]:
    """Changes one password and runs `pulumi up` while a writer commits every 20 ms (its session opened with
    the password in use before, `t.password`); returns the writer's attempts and the update's duration."""
    members = patroni_api.cluster(t.patroni_apis)["members"]
    probe.ensure_table(t)
    writer = probe.Probe(
        t, t.rw_endpoints, probe.writer(f"{key}-{uuid.uuid4().hex[:6]}"), {m["host"]: m["name"] for m in members}
    )
    writer.start()
    try:
        deadline = time.monotonic() + 10
        while not any(a.ok for a in writer.attempts):
            assert time.monotonic() < deadline, f"the writer committed nothing in 10 s: {writer.attempts[-1:]}"
            time.sleep(0.05)
        set_password(stack, key, value)
        started = time.monotonic()
        result = pulumi("up", "--yes", "--skip-preview", stack=stack, check=False)
        took = time.monotonic() - started
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert "1 updated" in result.stdout and "replaced" not in result.stdout, result.stdout[-2000:]
        drill.wait_healthy(t, 60)
    finally:
        writer.stop()
    return writer.attempts, took


def assert_writes_never_stopped(attempts: list, what: str) -> None:
    """No container restarts and no role loses its session, so no commit may fail; a longest gap between two
    commits under 1 s means a leader acknowledged writes throughout."""
    failed = [a for a in attempts if not a.ok]
    gap = timeline.longest_gap(attempts, attempts[0].start)
    print(f"{what}: {len(attempts) - len(failed)} commits, {len(failed)} failed, longest gap {gap:.2f} s")
    assert failed == [] and gap < 1.0


def test_the_app_password_changes_live_without_replacing_a_container(deployed):
    stack, t = deployed
    before, new_password = container_ids(t), secrets.token_urlsafe(18)
    try:
        attempts, took = up_under_a_writer(stack, t, "appPassword", new_password)
        print(f"appPassword change: pulumi up {took:.1f} s")
        assert_writes_never_stopped(attempts, "appPassword")
        assert container_ids(t) == before
        assert logs_in(t, new_password) and not logs_in(t, CONFIGURED_PASSWORD[1])
    finally:  # the other tests of the session log in with the configured password
        attempts, _ = up_under_a_writer(
            stack, dataclasses.replace(t, password=new_password), "appPassword", CONFIGURED_PASSWORD[1]
        )
    assert_writes_never_stopped(attempts, "appPassword back")
    assert logs_in(t, CONFIGURED_PASSWORD[1]) and not logs_in(t, new_password)
    assert container_ids(t) == before


def postmaster_start(t: target.Target, member: str) -> str | None:
    try:
        return t.psql(member, "SELECT pg_postmaster_start_time()", database="postgres")
    except RuntimeError:  # down while it is rebuilt
        return None


def rebuild_replica(t: target.Target, member: str) -> None:
    """Patroni's reinitialize: the replica's data is wiped and copied again from the leader (a base backup as
    the replication role); waits until that PostgreSQL runs anew and the cluster is whole."""
    before = postmaster_start(t, member)
    url = t.patroni_apis[int(member.rsplit("-", 1)[1]) - 1]
    answer = requests.post(f"{url}/reinitialize", json={"force": True}, auth=("patroni", t.api_password), timeout=10)
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 120
    while postmaster_start(t, member) in (before, None):
        assert time.monotonic() < deadline, f"{member} was not rebuilt within 120 s"
        time.sleep(0.5)
    drill.wait_healthy(t, 120)


def test_the_replication_password_changes_live_and_a_replica_is_rebuilt_with_it(deployed):
    stack, t = deployed
    before = container_ids(t)
    try:
        attempts, took = up_under_a_writer(stack, t, "replicationPassword", secrets.token_urlsafe(18))
        print(f"replicationPassword change: pulumi up {took:.1f} s")
        assert_writes_never_stopped(attempts, "replicationPassword")
        assert container_ids(t) == before
        # A replica built from nothing (base backup as the replication role) must log in with the new password.
        replica = next(m["name"] for m in patroni_api.cluster(t.patroni_apis)["members"] if m["role"] != "leader")
        rebuild_replica(t, replica)
    finally:
        set_password(stack, "replicationPassword", None)
        result = pulumi("up", "--yes", "--skip-preview", stack=stack, check=False)
        assert result.returncode == 0, result.stdout[-3000:]
    drill.wait_healthy(t, 60)
    assert container_ids(t) == before
