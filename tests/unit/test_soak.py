"""The soak's pure parts: its durations, its seeded sequence, and what its report sums up."""

import json
from types import SimpleNamespace
from typing import cast

import pytest

from pgha.ops.drills import soak
from pgha.ops.target import Target


def test_durations_read_as_seconds_and_anything_else_is_refused():
    assert [soak.seconds(t) for t in ("90s", "30m", "2h")] == [90, 1800, 7200]
    for bad in ("30", "0m", "1d", "-5s", ""):
        with pytest.raises(ValueError):
            soak.seconds(bad)


def test_the_same_seed_gives_the_same_faults_and_another_seed_others():
    names = ["kill-primary", "stop-primary", "kill-replica", "partition-primary"]
    first = soak.sequence(42, names, 20)
    assert first == soak.sequence(42, names, 20)
    assert first != soak.sequence(43, names, 20)
    assert set(first) <= set(names) and len(set(first)) > 1


def trial(scenario, number, gap, lost=0, split=False, rto=0.5, linearizable=True):
    return {
        "consistency": {"operations": 1000, "linearizable": linearizable, "checker_s": 0.25},
        "scenario": scenario,
        "trial": number,
        "write_gap_s": gap,
        "lost_acked": lost,
        "split_brain": split,
        "rto_s": rto,
    }


def test_the_summary_counts_faults_losses_and_names_the_worst_write_gap():
    found = soak.Soak("dev", 7, 60, ["kill-primary"])
    found.trials = [
        trial("kill-primary", 1, 0.6),
        trial("partition-primary", 2, 21.5, lost=2),
        trial("kill-primary", 3, None, split=True, rto=None, linearizable=None),
    ]
    summary = found.summary()
    assert summary["faults"] == 3
    assert summary["by_scenario"] == {"kill-primary": 2, "partition-primary": 1}
    assert (summary["lost_acked"], summary["split_brains"]) == (2, 1)
    assert (summary["worst_write_gap_s"], summary["worst_write_gap_in"]) == (21.5, "partition-primary #2")
    assert summary["not_recovered"] == ["kill-primary #3"]
    assert (summary["operations_checked"], summary["checker_s"]) == (3000, 0.75)
    assert summary["not_linearizable"] == ["kill-primary #3"], "a history the checker could not decide is no pass"
    report = found.__dict__ | {"summary": summary, "elapsed_s": 61.0}
    text = soak.table(report)
    assert "acknowledged commits lost: 2" in text and "worst write gap: 21.5s (partition-primary #2)" in text


def test_a_soak_with_nothing_wrong_has_no_problem_and_each_finding_is_one():
    clean = soak.Soak("dev", 7, 60, ["kill-primary"])
    clean.trials = [trial("kill-primary", 1, 0.6)]
    assert soak.problems(clean.__dict__ | {"summary": clean.summary()}) == []
    found = soak.Soak("dev", 7, 60, ["kill-primary"])
    found.trials = [trial("kill-primary", 1, 0.6, lost=1), trial("kill-primary", 2, 0.6, linearizable=False)]
    found.failed = ["rolling-restart #3: TimeoutError: timed out"]
    found.stopped = "not healthy after 180s: postgres-2 stopped"
    report = found.__dict__ | {"summary": found.summary(), "elapsed_s": 61.0}
    assert soak.problems(report) == [
        "not linearizable: kill-primary #2",
        "acknowledged commits lost: 1",
        "fault failed: rolling-restart #3: TimeoutError: timed out",
        "stopped early: not healthy after 180s: postgres-2 stopped",
    ]
    text = soak.table(report)
    assert "faults that failed: rolling-restart #3" in text and text.endswith("postgres-2 stopped")


def test_a_fault_that_fails_is_healed_recorded_and_the_soak_goes_on(monkeypatch, tmp_path):
    calls = []

    def run_trial(target, scenario, number, ttl, html):
        calls.append(number)
        if number == 1:
            raise TimeoutError("timed out")
        return SimpleNamespace(
            **trial(scenario.name, number, 0.5)
            | {"read_outage_s": 0, "notes": [], "old_primary": "postgres-1", "new_primary": "postgres-2"}
        )

    monkeypatch.setattr(soak.drill, "run_trial", run_trial)
    monkeypatch.setattr(soak.drill, "applicable", lambda target, names: ["kill-primary"])
    monkeypatch.setattr(soak.drill, "wait_healthy", lambda target, deadline: calls.append("whole"))
    monkeypatch.setattr(soak.drill, "verdict_line", lambda found: "ok")
    monkeypatch.setattr(soak.probe, "ensure_table", lambda target: None)
    monkeypatch.setattr(soak.patroni_api, "dynamic_config", lambda urls: {"ttl": 20})
    target = cast(Target, SimpleNamespace(stack="dev", patroni_apis=[]))
    report = json.loads(soak.run(target, 3600, 7, 2, tmp_path).read_text())
    assert calls == ["whole", 1, "whole", 2]
    assert report["failed"] == ["kill-primary #1: TimeoutError: timed out"]
    assert report["summary"]["faults"] == 1
