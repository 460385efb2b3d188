"""`pgha experiment`, end to end: a tiny experiment (two variants side by side, one kill-primary trial each) deployed
through the Automation API, drilled, compared in one report and destroyed, leaving no stack, container, volume or
progress file."""

import json
import os
import subprocess
import uuid
from pathlib import Path

from pgha.ops.experiments import experiment
from tests.deploy.conftest import ROOT, docker_objects, leftovers, pulumi

TINY = """
name: {name}
question: Does the watcher shorten a killed primary's write outage on the smallest cluster that fails over?
base: {{etcdNodes: 1, postgresNodes: 2, haproxyNodes: 1, metrics: false}}
variants:
  - name: watcher
    settings: {{fastFailover: true}}
  - name: no-watcher
    settings: {{fastFailover: false}}
workload: {{drills: [kill-primary], trials: 1}}
"""


def test_a_tiny_experiment_compares_two_variants_and_leaves_nothing(tmp_path):
    name = f"tiny-{uuid.uuid4().hex[:4]}"
    path = tmp_path / f"{name}.yaml"
    path.write_text(TINY.format(name=name))
    before = docker_objects()
    command = ["pgha", "experiment", str(path), "--parallel", "2", "--reports", str(tmp_path / "reports")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[2/2 no-watcher] destroy" in done.stdout  # progress: which variant, which step, how long
    report_dir = next((tmp_path / "reports").glob(f"experiment-{name}-*"))
    summary = json.loads((report_dir / "summary.json").read_text())
    assert [v["variant"] for v in summary["variants"]] == ["watcher", "no-watcher"]
    for variant in summary["variants"]:
        trial = variant["drills"]["kill-primary"][0]
        assert trial["rto_s"] is not None and trial["lost_acked"] == 0 and not trial["split_brain"], variant
        assert variant["settings"]["pgha:postgresNodes"] == "2"
    # Side by side, each on its own slot's ports.
    assert [v["settings"]["pgha:rwPort"] for v in summary["variants"]] == ["25000", "25100"]
    assert "| figure | watcher | no-watcher |" in (report_dir / "summary.md").read_text()
    assert (report_dir / "rto.png").exists()
    stacks = pulumi("stack", "ls", "--json", stack="dev", check=False)  # --stack is ignored by `stack ls`
    assert f"exp-{name}" not in stacks.stdout
    assert not leftovers(before), leftovers(before)
    assert not (Path(os.environ["PGHA_HOME"]) / "experiments" / name / "progress.json").exists()
    assert experiment.home(name).exists()  # the workspace stays: it is this machine's, and holds no stack file
    assert not list(experiment.home(name).glob("Pulumi.exp-*.yaml"))
