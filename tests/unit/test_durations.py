"""The per-test time limits: the measured times they are sized from, and how a JUnit report maps onto tests."""

import subprocess
import sys

from tests import durations
from tests.conftest import CEILING_S, FLOOR_S, limit_s

REPORT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.deploy.test_swarm" name="test_host[kill-host]" time="81.234"/>
<testcase classname="tests.deploy.test_swarm" name="test_host[partition-host]" time="12.0"><failure/></testcase>
<testcase classname="tests.unit.test_x" name="test_skipped" time="0.0"><skipped/></testcase>
<testcase classname="tests.unit.test_x" name="test_quick" time="0.004"/>
</testsuite></testsuites>"""


def test_a_report_keeps_the_passed_tests_only():
    assert durations.from_report(REPORT) == {
        "tests.deploy.test_swarm::test_host[kill-host]": 81.23,
        "tests.unit.test_x::test_quick": 0.0,
    }


def test_a_node_id_is_named_as_the_report_names_it():
    assert durations.junit_key("tests/deploy/test_swarm.py::test_host[kill-host]") == (
        "tests.deploy.test_swarm::test_host[kill-host]"
    )
    assert durations.junit_key("tests/unit/test_x.py::TestY::test_z") == "tests.unit.test_x.TestY::test_z"


def test_the_limit_is_four_times_the_measured_time_between_the_suite_floor_and_ceiling():
    assert limit_s("deploy", 81.23) == 325
    assert limit_s("deploy", 1.0) == FLOOR_S["deploy"]
    assert limit_s("integration", 400.0) == CEILING_S["integration"]
    assert limit_s("unit", None) == CEILING_S["unit"]


def test_every_test_pytest_runs_is_found_by_its_own_key_in_its_report(tmp_path):
    module = tmp_path / "tests" / "unit" / "test_sample.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "import pytest\n\n"
        "@pytest.mark.parametrize('n', [1, 'a-b'])\ndef test_one(n):\n    pass\n\n"
        "class TestTwo:\n    def test_two(self):\n        pass\n"
    )
    report = tmp_path / "report.xml"
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, "tests"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    ran = run(f"--junitxml={report}", "-o", "junit_family=xunit1", "-o", "junit_duration_report=call")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    node_ids = [line for line in run("--collect-only").stdout.splitlines() if "::" in line]
    assert len(node_ids) == 3
    assert {durations.junit_key(node) for node in node_ids} == set(durations.from_report(report.read_text()))
