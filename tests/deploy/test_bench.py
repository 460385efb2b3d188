"""One short bench on the session's stack, so the verb cannot rot: every path yields figures, a small storm is
served whole, and one timed round of the experiment loop deploys, previews and destroys a throwaway stack, its
preview quiet and without a change. No speed is asserted: a benchmark prints figures, the machine decides them."""

import json

from pgha.clients import docker_api
from pgha.ops.bench import bench, bench_report

PATHS = {"host-rw", "host-ro", "haproxy", "pgbouncer", "direct"}


def test_a_short_bench_measures_every_path_and_serves_the_whole_storm(deployed, tmp_path, capsys):
    stack, t = deployed
    path = bench.run(t, [4], seconds=3, runs=1, storm_size=50, report_dir=tmp_path, scale=1, loops=1)
    report = json.loads(path.read_text())
    summary = bench_report.write(path)
    with capsys.disabled():
        print("\n" + bench_report.tables(report), flush=True)
    assert bench_report.failures(report) == []
    measured = {(r["workload"], r["path"]) for r in report["rows"] if r.get("tps", 0) > 0}
    expected = {(w, p.name) for p in bench.paths(t, report["primary"]) for w in p.workloads}
    assert {p for _, p in expected} == PATHS and measured == expected
    assert all(r.get("p99_ms", 0) > 0 for r in report["rows"])
    assert report["storm"]["served"] == report["storm"]["clients"] == 50, report["storm"]
    [loop_round] = report["loop"]
    assert all(loop_round[c]["seconds"] > 0 for c in ("up", "preview", "destroy")), loop_round
    assert loop_round["up"]["changes"] == loop_round["destroy"]["changes"] > 0, loop_round
    assert (loop_round["preview"]["changes"], loop_round["preview"]["messages"]) == (0, []), loop_round["preview"]
    assert summary.exists() and summary.with_suffix(".png").exists()
    assert docker_api.labelled("containers", f"pgha.bench={stack}") == [], "a bench client container was left"
