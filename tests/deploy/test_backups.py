"""The session stack's pgBackRest repository: backed up at deploy, archiving end to end, backups on demand, and a
restore source checked at preview. (Restores themselves: test_recovery.py; destroy keeping the repository:
conftest.py.)"""

import subprocess
import uuid

from pgha.actions import backups as pgbackrest
from pgha.model import repository, stacks
from pgha.names import stanza
from pgha.ops.backups import backups
from tests.deploy.conftest import ROOT, SECOND_STACK_PORTS, plaintext


def test_the_stack_was_backed_up_in_full_at_deploy(deployed):
    stack, _ = deployed
    found = backups.newest(backups.listing(stack, None))
    assert found["status"]["code"] == 0, found["status"]
    assert found["backup"][0]["type"] == "full"
    assert found["cipher"] == "aes-256-cbc"


def test_pgbackrest_check_archives_from_the_primary(deployed):
    stack, _ = deployed
    pgbackrest.check(stack)  # raises when the WAL segment it switches to does not reach the repository


def test_the_repository_is_one_volume_of_the_stack_mounted_on_every_node_and_its_host(deployed):
    stack, t = deployed
    holders = {**t.containers("postgres"), **t.containers("pgbackrest")}
    assert len(holders) == 4
    for name, c in holders.items():
        mounts = {m["Destination"]: m.get("Name") for m in c["Mounts"]}
        assert mounts["/var/lib/pgbackrest"] == repository.volume_name(stack), name


def test_an_incremental_backup_on_demand_is_taken_from_a_standby(deployed):
    stack, _ = deployed
    taken = backups.backup(stack, "incr")
    assert taken["type"] == "incr" and taken["prior"]
    assert taken["from_standby"], "the primary was not spared"
    listed = [b["label"] for b in backups.newest(backups.listing(stack, None))["backup"]]
    assert listed[-1] == taken["label"]


def test_the_key_never_reaches_the_containers_configuration(deployed):
    _, t = deployed
    key = stacks.machine_backup_key()
    for name in t.containers():
        inspected = subprocess.run(
            ["docker", "inspect", t.container(name)], capture_output=True, text=True, timeout=120
        ).stdout
        assert key not in inspected, name


def test_a_restore_target_before_the_first_backup_is_refused_at_preview(deployed):
    stack, _ = deployed
    name = f"t-{uuid.uuid4().hex[:8]}"
    subprocess.run(["pulumi", "stack", "init", name], cwd=ROOT, capture_output=True, check=True, timeout=120)
    try:
        subprocess.run(
            [
                "pulumi",
                "config",
                "set-all",
                "--stack",
                name,
                *plaintext({"restoreFrom": stack, "restoreTarget": "2000-01-01T00:00:00+00:00"} | SECOND_STACK_PORTS),
            ],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=120,
        )
        done = subprocess.run(
            ["pulumi", "preview", "--stack", name], cwd=ROOT, capture_output=True, text=True, timeout=300
        )
    finally:
        subprocess.run(["pulumi", "stack", "rm", "--yes", "--force", name], cwd=ROOT, capture_output=True, timeout=120)
        (ROOT / f"Pulumi.{name}.yaml").unlink(missing_ok=True)
    assert done.returncode != 0
    assert (
        f"pgha:restoreTarget: 2000-01-01 00:00:00+00:00 is before the first backup of stack '{stack}' (cluster 1) ended"
        in done.stdout + done.stderr
    ), done.stdout[-3000:]
    assert stanza(stack) == f"pgha-{stack}"
