"""Reading a stack's Prometheus: alert spells from ALERTS' range, and how a drill report shows them."""

from pgha.clients import prometheus as metrics
from pgha.ops.drills import report


def alerts_series(name, times, **labels):
    return {
        "metric": {"__name__": "ALERTS", "alertname": name, "alertstate": "firing", "severity": "critical", **labels},
        "values": [[t, "1"] for t in times],
    }


def test_a_firing_alert_becomes_one_span_per_spell_with_its_resolution_time(monkeypatch):
    down = alerts_series("PghaPostgresDown", [100, 101, 102, 110, 111, 119], member="postgres-1", job="patroni")
    still = alerts_series("PghaNoLeader", [118, 119, 120])
    monkeypatch.setattr(metrics, "query_range", lambda *args: [down, still])
    monkeypatch.setattr(metrics, "query", lambda url, expr, at: [{"metric": still["metric"], "value": [at, "1"]}])
    spans = metrics.alerts_between("http://prometheus", 95, 120, step=1)
    assert [(s.alert, s.fired, s.resolved) for s in spans] == [
        ("PghaPostgresDown", 100, 103),
        ("PghaPostgresDown", 110, 112),
        ("PghaNoLeader", 118, None),
        ("PghaPostgresDown", 119, 120),
    ]
    assert spans[0].labels == {"member": "postgres-1", "job": "patroni"} and spans[0].severity == "critical"
    assert spans[0].relative_to(98.5) == {
        "alert": "PghaPostgresDown",
        "labels": {"member": "postgres-1", "job": "patroni"},
        "severity": "critical",
        "fired_s": 1.5,
        "resolved_s": 4.5,
    }


def test_settle_waits_for_the_alerts_to_resolve_and_says_what_still_fires(monkeypatch):
    answers = iter([["PghaPostgresDown{postgres-1}"], []])
    monkeypatch.setattr(metrics, "firing", lambda url: next(answers))
    assert metrics.settle("http://prometheus", 5, poll_s=0) == []
    monkeypatch.setattr(metrics, "firing", lambda url: ["PghaReplicaLagHigh{postgres-2}"])
    assert metrics.settle("http://prometheus", 0.05, poll_s=0.01) == ["PghaReplicaLagHigh{postgres-2}"]


def trial(number, alerts, png="x.png"):
    return {
        "trial": number,
        "rto_s": 1.0,
        "read_outage_s": 0.5,
        "write_gap_s": 1.0,
        "writes": [],
        "lost_acked": 0,
        "split_brain": False,
        "alerts": alerts,
        "metrics_png": png,
    }


def test_the_report_lists_each_alert_and_counts_trials_with_two_primaries():
    down = {
        "alert": "PghaPostgresDown",
        "labels": {"member": "postgres-1", "job": "patroni"},
        "severity": "critical",
        "fired_s": 0.6,
        "resolved_s": 21.3,
    }
    two = {"alert": "PghaMultiplePrimaries", "labels": {}, "severity": "critical", "fired_s": 3.0, "resolved_s": None}
    data = {"stack": "dev", "ttl": 20, "scenarios": {"kill-primary": [trial(1, [down]), trial(2, [two])]}}
    assert report.summary_rows(data)[0][-1] == "1"
    assert report.alert_rows(data) == [
        ("kill-primary", "1", "PghaPostgresDown", "member=postgres-1", "0.6", "21.3"),
        ("kill-primary", "2", "PghaMultiplePrimaries", "cluster", "3.0", "still firing"),
    ]
    assert "Alerts that fired" in report.markdown(data)
    no_metrics = {"stack": "dev", "ttl": 20, "scenarios": {"kill-primary": [trial(1, [], png="")]}}
    assert report.summary_rows(no_metrics)[0][-1] == "n/a"


def test_target_problems_name_missing_and_down_targets():
    up = lambda job, member, pool="": metrics.ScrapeTarget(job, member, pool, "up", "")  # noqa: E731
    found = [
        up("patroni", "postgres-1"),
        up("patroni", "postgres-2"),
        metrics.ScrapeTarget("pgbouncer", "pgbouncer-1", "leader", "down", "connection refused"),
        up("etcd", "etcd-1"),
    ]
    assert metrics.target_problems(found, {"patroni": 2, "etcd": 1}) == []
    assert metrics.target_problems(found, {"patroni": 3, "pgbouncer": 1}) == [
        "patroni: 2 targets, expected 3",
        "pgbouncer pgbouncer-1 leader is down: connection refused",
    ]
