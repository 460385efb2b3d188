"""The soak's pure parts: its durations, its seeded sequence, and what its report sums up."""

import pytest

from pgha.ops.drills import soak


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
