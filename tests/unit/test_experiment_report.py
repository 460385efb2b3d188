"""The experiment verb's pure parts: each variant's stack config and ports, the resume fingerprint, the figures kept
from a drill report, and the comparison report (noise marks, table, charts)."""

import json

import pytest

from pgha.model.experiments import Experiment, Variant
from pgha.ops.experiments import experiment, experiment_report
from pgha.ops.experiments.experiment_report import WITHIN_NOISE, versus

EXP = Experiment(
    "t",
    "Which is faster?",
    [Variant("a", {"fastFailover": "true"}), Variant("b", {"fastFailover": "false"})],
    ["kill-primary"],
    3,
    ["tpcb"],
)
SHAPE = {"clients": 16, "seconds": 30, "runs": 3, "warmup_s": 15}


def result(name, rtos, lost=0, tps=(1000.0, 1010.0, 990.0), p99=(20.0, 21.0, 19.0), split=False):
    trials = [
        {
            "rto_s": r,
            "read_outage_s": r,
            "write_gap_s": r,
            "lost_acked": lost if i == 0 else 0,
            "split_brain": split and i == 0,
            "two_primary_alerts": 0,
            "linearizable": not (split and i == 0),
        }
        for i, r in enumerate(rtos)
    ]
    return {
        "variant": name,
        "stack": f"exp-t-{name}",
        "settings": {"pgha:fastFailover": "true", "pgha:rwPort": "25000"},
        "wall_s": {"up": 20.0, "drills": 60.0},
        "drills": {"kill-primary": trials, "report": f"{name}/drill-exp-t-{name}.json"},
        "bench": {
            "tpcb": [{"tps": t, "p99_ms": p} for t, p in zip(tps, p99, strict=True)] + [{"error": "connection refused"}]
        },
    }


def test_ports_move_out_of_the_ready_made_stacks_range_and_apart_per_parallel_slot():
    first = experiment.stack_config(Variant("a", {"ttl": "20"}), 0)
    second = experiment.stack_config(Variant("a", {"ttl": "20", "rwPort": "6000"}), 2)
    assert first["pgha:ttl"] == "20"
    assert (first["pgha:rwPort"], first["pgha:roPort"], first["pgha:patroniPort"]) == ("25000", "25001", "28008")
    assert (second["pgha:rwPort"], second["pgha:roPort"]) == ("6200", "25201")  # a port the file sets is its own


def test_a_resumed_run_must_be_the_same_experiment():
    same = experiment.fingerprint(EXP, 3)
    assert experiment.fingerprint(EXP, 3) == same
    assert experiment.fingerprint(EXP, 4) != same
    other = Experiment("t", "", [EXP.variants[0]], EXP.drills, 3, EXP.bench)
    assert experiment.fingerprint(other, 3) != same


def test_the_figures_kept_from_a_drill_report_count_two_primary_alerts():
    report = {
        "scenarios": {
            "kill-primary": [
                {
                    "rto_s": 0.5,
                    "read_outage_s": 1.0,
                    "write_gap_s": 0.4,
                    "lost_acked": 0,
                    "split_brain": False,
                    "old_primary": "postgres-1",
                    "new_primary": "postgres-2",
                    "writes": [{"ok": True}],
                    "alerts": [{"alert": "PghaMultiplePrimaries"}, {"alert": "PghaPostgresDown"}],
                    "consistency": {"linearizable": False, "operations": 1800},
                }
            ]
        }
    }
    kept = experiment.drill_figures(report)["kill-primary"][0]
    assert kept["two_primary_alerts"] == 1 and kept["rto_s"] == 0.5 and "writes" not in kept
    assert kept["linearizable"] is False and "consistency" not in kept
    del report["scenarios"]["kill-primary"][0]["consistency"]  # a report from before the checker
    assert "linearizable" not in experiment.drill_figures(report)["kill-primary"][0]


@pytest.mark.parametrize(
    "base, other, expected",
    [
        ([1.0, 1.1, 0.9, 1.0], [1.05, 1.0, 1.1, 0.95], WITHIN_NOISE),
        ([1.0, 1.1, 0.9, 1.0], [3.0, 3.1, 2.9, 3.0], "+2.00 (x3.00)"),
        ([1.0], [1.5], "+0.50 (one sample: noise unknown)"),
        # A wide, two-humped spread (no watcher: the killed primary restarted in place, or the lock expired) is
        # still far from a tight one: the middle halves are compared, not the spreads' sizes.
        ([0.5, 0.6, 0.7, 0.55], [5.0, 22.0, 6.0, 21.0, 24.0], "+20.43 (x36.52)"),
        ([], [1.0], "n/a"),
    ],
)
def test_a_difference_within_the_run_to_run_noise_is_marked(base, other, expected):
    assert versus(base, other) == expected


def test_the_table_sets_the_variants_side_by_side_against_the_first():
    rows = experiment_report.rows(
        [result("a", [0.5, 0.6, 0.55]), result("b", [3.0, 3.2, 3.1], lost=2, split=True, tps=(1005.0, 995.0, 1000.0))],
        EXP.drills,
        EXP.bench,
    )
    by_label = {r[0]: r[1:] for r in rows}
    assert by_label["kill-primary: RTO s"] == ["0.55 [0.50-0.60]", "3.10 [3.00-3.20] +2.55 (x5.64)"]
    assert by_label["kill-primary: lost acked commits"] == ["0", "2"]
    assert by_label["kill-primary: split brain (trials)"] == ["0 of 3", "1 of 3"]
    assert by_label["kill-primary: not linearizable (trials)"] == ["0 of 3", "1 of 3"]
    assert by_label["tpcb: TPS"][1].endswith(WITHIN_NOISE)  # the failed run is left out, not counted as 0
    assert by_label["wall time s"] == ["80", "80"]


def test_the_report_writes_summary_json_markdown_and_charts(tmp_path):
    results = [result("a", [0.5, 0.6, 0.55]), result("b", [3.0, 3.2, 3.1])]
    summary = experiment_report.write(tmp_path, EXP, 3, SHAPE, 0.0, results)
    data = json.loads((tmp_path / "summary.json").read_text())
    assert [v["variant"] for v in data["variants"]] == ["a", "b"] and data["bench_shape"] == SHAPE
    text = summary.read_text()
    assert "| figure | a | b |" in text and "![rto.png](rto.png)" in text and "Which is faster?" in text
    assert "rwPort" not in text  # the ports are where it ran, not what it compares
    for png in ("rto.png", "lost.png", "bench.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


def test_an_interrupted_run_resumes_with_its_finished_variants_unless_told_to_restart(tmp_path, monkeypatch):
    monkeypatch.setenv("PGHA_HOME", str(tmp_path))
    options = experiment.Options()
    state = experiment.resume_or_start(EXP, 3, options, tmp_path / "reports")
    assert state["done"] == {} and state["report_dir"].startswith(str(tmp_path / "reports" / "experiment-t-"))
    state["done"]["a"] = result("a", [0.5])
    experiment.home("t").mkdir(parents=True)
    experiment.save_progress(EXP, state)
    assert experiment.resume_or_start(EXP, 3, options, tmp_path / "reports")["done"].keys() == {"a"}
    assert (
        experiment.resume_or_start(EXP, 4, options, tmp_path / "reports")["done"] == {}
    )  # other trials: another experiment
    assert experiment.resume_or_start(EXP, 3, experiment.Options(restart=True), tmp_path / "reports")["done"] == {}
