"""A stack destroyed right after its drills leaves nothing: no container, volume or network, and no line saying the
engine kept something (issue 23: a destroy right after five kill-primary trials once left the stack's network to
Docker's stale endpoint). A small stack of its own: kill-primary needs two nodes and nothing else."""

import subprocess
import uuid

from pgha.ops import target
from pgha.ops.drills import drill
from tests.deploy.conftest import ROOT, docker_objects, leftovers, plaintext, pulumi, remove_stack

TRIALS = 3
SMALL = {"etcdNodes": 1, "postgresNodes": 2, "haproxyNodes": 1, "metrics": "false", "backups": "false"}


def test_a_stack_destroyed_right_after_kill_primary_trials_leaves_nothing(tmp_path):
    name = f"t-{uuid.uuid4().hex[:6]}"
    before = docker_objects()
    subprocess.run(["pulumi", "stack", "init", name], cwd=ROOT, capture_output=True, check=True, timeout=120)
    pulumi("config", "set-all", *plaintext(SMALL), stack=name)
    try:
        up = pulumi("up", "--yes", "--skip-preview", stack=name, check=False)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-2000:]
        drill.run(target.from_pulumi(name), ["kill-primary"], TRIALS, tmp_path)
        down = pulumi("destroy", "--yes", "--skip-preview", stack=name, check=False)
        said = down.stdout + down.stderr
        assert down.returncode == 0, said[-4000:]
        assert "is left" not in said, said[-2000:]
        assert not leftovers(before)
    finally:
        remove_stack(name)
