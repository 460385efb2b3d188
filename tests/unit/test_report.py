import json
from typing import Any

from pgha.ops.drills import report


def consistency(linearizable=True, html="", ops=1800):
    return {
        "operations": ops,
        "unknown": 2,
        "failed": 5,
        "linearizable": linearizable,
        "checker_s": 0.031,
        "html": html,
        "history": "",
        "ro_reads": 400,
        "ro_failed": 0,
        "staleness_p50_s": 0.0,
        "staleness_max_s": 0.0123,
    }


def trial(rto, lost=0, split=False, read=0.1, gap=0.5, checked=None):
    return {
        "trial": 1,
        "rto_s": rto,
        "read_outage_s": read,
        "write_gap_s": gap,
        "lost_acked": lost,
        "split_brain": split,
        "writes": [
            {"start": -1.02, "end": -1.0, "ok": True, "member": "postgres-1"},
            {"start": 0.0, "end": 0.2, "ok": False, "member": None},
            {"start": (rto or 1.0) - 0.01, "end": rto or 1.0, "ok": True, "member": "postgres-2"},
        ],
        "reads": [{"end": 0.1, "ok": True, "member": "postgres-3"}],
        **({"consistency": checked} if checked else {}),
    }


REPORT: dict[str, Any] = {
    "stack": "t",
    "ttl": 20,
    "scenarios": {
        "kill-primary": [
            trial(20.0, checked=consistency()),
            trial(22.0, lost=1, checked=consistency(False, "/r/drill-t-1-kill-primary-2-lincheck.html")),
            trial(21.0, checked=consistency(None)),
            trial(None, split=True, checked=consistency()),
        ],
        "switchover": [trial(1.5)],  # a report from before the checker
    },
}


def test_summary_rows_give_medians_percentiles_and_totals():
    rows = {r[0]: r for r in report.summary_rows(REPORT)}
    assert rows["kill-primary"] == (
        "kill-primary",
        "4",
        "21.00",
        "22.00",
        "22.00",
        "0.10",
        "0.50",
        "1",
        "20.00",
        "200.00",
        "0.20",
        "1",
        "1",
        "2 of 4 (1 unknown)",
        "n/a",
    )
    assert rows["switchover"][2:5] == ("1.50", "1.50", "1.50")
    assert rows["switchover"][-2] == "n/a"


def test_consistency_rows_give_each_trials_verdict_and_name_a_failures_visualization():
    rows = report.consistency_rows(REPORT)
    assert len(rows) == 4  # the switchover's trial ran no register workload
    assert rows[0] == ("kill-primary", "1", "1800", "2", "5", "yes", "0.03", "400", "0.0", "12.3", "-")
    assert (
        rows[1][5] == "NO"
        and rows[1][-1] == "[drill-t-1-kill-primary-2-lincheck.html](drill-t-1-kill-primary-2-lincheck.html)"
    )
    assert rows[2][5] == "unknown"


def test_markdown_is_a_table_with_a_row_per_scenario():
    lines = report.markdown(REPORT).splitlines()
    assert lines[0].startswith("| scenario | trials | RTO p50 s")
    assert lines[4] == ""
    assert lines[5].startswith("Consistency: the register workload")
    assert lines[7].startswith("| scenario | trial | ops checked | unknown | failed | linearizable | checker s")
    assert len(lines) == 7 + 2 + 4


def test_write_makes_markdown_and_one_plot_per_scenario(tmp_path):
    path = tmp_path / "drill-t-1.json"
    path.write_text(json.dumps(REPORT))
    md = report.write(path)
    assert "| kill-primary | 4 |" in md.read_text()
    for scenario in REPORT["scenarios"]:
        png = tmp_path / f"drill-t-1-{scenario}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
