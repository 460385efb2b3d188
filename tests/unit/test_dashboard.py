import json
import math

import pytest

from pgha.cli import main
from pgha.clients import prometheus as metrics
from pgha.ops import dashboard

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FAULT = 1_800_000_000.0
OUTPUTS = {
    "stack": "t",
    "rwEndpoint": "127.0.0.1:5000",
    "roEndpoint": "127.0.0.1:5001",
    "statsUrl": "http://127.0.0.1:7000/",
    "patroniApis": ["http://127.0.0.1:8008"],
    "database": "app",
    "user": "app",
    "password": "secret-secret",
    "patroniApiPassword": "secret-secret",
}


def panel(title_start: str) -> dashboard.Panel:
    return next(p for p in dashboard.PANELS if p.title.startswith(title_start))


def samples(member: str, offsets, value=1, **labels) -> dict:
    return {"metric": {"member": member, **labels}, "values": [[FAULT + o, str(value)] for o in offsets]}


def canned(url, expr, start, end, step):
    """A failover: postgres-1 leads until the fault and is gone after it, postgres-2 leads from 5 s on; no client
    ever waits in PgBouncer."""
    if expr == "patroni_primary":
        return [
            samples("postgres-1", range(-10, 1)),
            {"metric": {"member": "postgres-2"}, "values": [[FAULT + o, str(int(o >= 5))] for o in range(-10, 20)]},
        ]
    if "waiting" in expr:
        return []
    if "pgbouncer" in expr:
        return [samples(f"pgbouncer-{n}", range(-10, 20), 3, pool=pool) for n in (1, 2) for pool in ("leader", "node")]
    if "haproxy" in expr:
        return [samples("haproxy-1", range(-10, 20), proxy=proxy) for proxy in ("read_write", "read_only")]
    return [samples("postgres-2", range(-10, 20), 1234.5), samples("postgres-3", range(-10, 20), 0)]


@pytest.mark.parametrize("text, seconds", [("10m", 600), ("90s", 90), ("2h", 7200), ("1.5m", 90), (" 5m ", 300)])
def test_since_seconds_reads_seconds_minutes_and_hours(text, seconds):
    assert dashboard.since_seconds(text) == seconds


@pytest.mark.parametrize("text", ["10", "10d", "m", "-5m", "0m", "", "10 m"])
def test_since_seconds_refuses_anything_else_and_says_what_it_expects(text):
    with pytest.raises(ValueError, match="s, m or h"):
        dashboard.since_seconds(text)


def test_step_keeps_a_window_under_600_points_and_never_below_a_second():
    assert dashboard.step_for(0, 60) == 1
    assert dashboard.step_for(0, 600) == 1
    assert dashboard.step_for(0, 7200) == 12


def test_series_are_named_per_member_and_pool_with_times_from_zero():
    result = [samples("pgbouncer-2", [0, 1], 4, pool="node"), samples("pgbouncer-1", [-1.5, 2], 3, pool="leader")]
    found = dashboard.to_series(panel("PgBouncer clients active"), result, step=1.0, zero=FAULT)
    assert [s.name for s in found] == ["pgbouncer-1 leader pool", "pgbouncer-2 node pool"]
    assert found[1].times == [0.0, 1.0] and found[1].values == [4.0, 4.0]


def test_a_missing_scrape_breaks_the_line_and_epoch_times_stay_without_zero():
    (found,) = dashboard.to_series(panel("Commit rate"), [samples("postgres-1", [0, 1, 5])], step=1.0)
    assert found.name == "postgres-1"
    assert found.times == [FAULT, FAULT + 1, FAULT + 3, FAULT + 5]
    assert math.isnan(found.values[2]) and found.values[:2] + found.values[3:] == [1.0, 1.0, 1.0]


def test_render_queries_every_panel_and_writes_a_png_with_an_empty_panel(tmp_path, monkeypatch):
    asked = []

    def query_range(*args):
        asked.append(args)
        return canned(*args)

    monkeypatch.setattr(metrics, "query_range", query_range)
    path = dashboard.render(
        "http://prometheus",
        FAULT - 10,
        FAULT + 20,
        tmp_path / "d" / "dashboard.png",
        marks=[(FAULT, "fault"), (FAULT + 5, "recovered")],
        zero=FAULT,
        title="t: kill-primary",
    )
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert [a[1] for a in asked] == [p.expr for p in dashboard.PANELS]
    assert {a[2:] for a in asked} == {(FAULT - 10, FAULT + 20, 1.0)}


def test_render_on_the_wall_clock_with_no_data_at_all(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics, "query_range", lambda *args: [])
    path = dashboard.render("http://prometheus", FAULT - 600, FAULT, tmp_path / "empty.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_the_verb_says_so_when_the_stack_collects_no_metrics(tmp_path, capsys):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(OUTPUTS))
    assert main(["--target-file", str(outputs), "dashboard", "--reports", str(tmp_path)]) == 1
    assert "collects no metrics" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png"))


def test_the_verb_writes_its_png_under_reports_and_prints_the_path(tmp_path, capsys, monkeypatch):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({**OUTPUTS, "prometheusUrl": "http://127.0.0.1:9090"}))
    monkeypatch.setattr(metrics, "query_range", lambda *args: [])
    assert main(["--target-file", str(outputs), "dashboard", "--since", "90s", "--reports", str(tmp_path)]) == 0
    (png,) = tmp_path.glob("dashboard-t-*.png")
    assert capsys.readouterr().out.strip() == str(png)
