import json
from typing import Any

from pgha.ops.drills import report


def trial(rto, lost=0, split=False, read=0.1, gap=0.5):
    return {
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
    }


REPORT: dict[str, Any] = {
    "stack": "t",
    "ttl": 20,
    "scenarios": {
        "kill-primary": [trial(20.0), trial(22.0, lost=1), trial(21.0), trial(None, split=True)],
        "switchover": [trial(1.5)],
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
        "n/a",
    )
    assert rows["switchover"][2:5] == ("1.50", "1.50", "1.50")


def test_markdown_is_a_table_with_a_row_per_scenario():
    lines = report.markdown(REPORT).splitlines()
    assert lines[0].startswith("| scenario | trials | RTO p50 s")
    assert len(lines) == 4


def test_write_makes_markdown_and_one_plot_per_scenario(tmp_path):
    path = tmp_path / "drill-t-1.json"
    path.write_text(json.dumps(REPORT))
    md = report.write(path)
    assert "| kill-primary | 4 |" in md.read_text()
    for scenario in REPORT["scenarios"]:
        png = tmp_path / f"drill-t-1-{scenario}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
