"""The HA alert rules as pgha renders them: Prometheus' own promtool checks them and runs their unit tests
(tests/alerts/pgha-alerts.test.yml), in the stack's Prometheus image, so the tests read them as the server does."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pgha.model import render
from pgha.model.images import check_image
from pgha.model.layout import Layout
from pgha.model.settings import parse

ALERT_TESTS = Path(__file__).resolve().parents[1] / "alerts" / "pgha-alerts.test.yml"
# The stack the unit tests are written for: 3 etcd members (a quorum of 2), quorum mode, 16 MiB of lag.
LAYOUT = Layout(
    parse("alerts", {"etcdNodes": "3", "synchronousMode": "quorum", "replicaLagAlertBytes": str(16 * 2**20)})
)


def promtool(directory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            f"{directory}:/rules:ro",
            "-w",
            "/rules",
            "--entrypoint",
            "promtool",
            check_image("prometheus"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture()
def rules(tmp_path):
    (tmp_path / "pgha-alerts.yml").write_text(render.prometheus_alerts(LAYOUT))
    shutil.copy(ALERT_TESTS, tmp_path)
    tmp_path.chmod(0o755)
    return tmp_path


def test_every_rule_fires_when_it_must_and_stays_silent_when_it_must_not(rules):
    result = promtool(rules, "test", "rules", ALERT_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        t["alertname"] for case in yaml.safe_load(ALERT_TESTS.read_text())["tests"] for t in case["alert_rule_test"]
    }
    shipped = {r["alert"] for g in yaml.safe_load(render.prometheus_alerts(LAYOUT))["groups"] for r in g["rules"]}
    assert tested == shipped, "every shipped rule has its tests"


def test_the_rendered_rules_and_configuration_pass_promtool_check(rules):
    (rules / "prometheus.yml").write_text(
        render.prometheus_config(LAYOUT).replace("/etc/prometheus/rules/*.yml", "pgha-alerts.yml")
    )
    result = promtool(rules, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
