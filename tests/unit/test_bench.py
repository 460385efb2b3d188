from pgha.ops.bench import bench, bench_report, bench_stats
from pgha.ops.target import Target

SUMMARY = """pgbench (17.6 (Debian 17.6-0+deb13u1))
transaction type: <builtin: select only>
scaling factor: 10
query mode: prepared
number of clients: 4
number of threads: 4
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: 8212
number of failed transactions: 0 (0.000%)
latency average = 0.970 ms
initial connection time = 12.345 ms
tps = 4105.301234 (without initial connection time)
"""
# client, transaction, latency us, script, epoch s, us; a skipped transaction logs "skipped" as its latency
LOG = "0 0 1200 0 1764165000 100\n1 0 800 0 1764165000 200\n0 1 skipped 0 1764165000 300\n2 0 3000 0 1764165000 400\n"


def test_parse_summary_reads_tps_latency_and_counts():
    assert bench_stats.parse_summary(SUMMARY) == {
        "tps": 4105.301234,
        "latency_avg_ms": 0.97,
        "processed": 8212,
        "failed": 0,
    }


def test_parse_summary_leaves_out_what_pgbench_did_not_print():
    assert bench_stats.parse_summary("pgbench: error: connection refused\n") == {}


def test_log_latencies_are_milliseconds_and_skip_words():
    assert bench_stats.log_latencies_ms(LOG) == [1.2, 0.8, 3.0]


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert bench_stats.percentile(values, 0.5) == 50
    assert bench_stats.percentile(values, 0.99) == 99
    assert bench_stats.percentile([7.0], 0.99) == 7.0


def test_run_figures_adds_log_percentiles_to_the_summary():
    figures = bench_stats.run_figures(SUMMARY, LOG)
    assert figures["tps"] == 4105.301234 and figures["p50_ms"] == 1.2 and figures["p99_ms"] == 3.0


def result(path, tps, p99, clients=16, workload="tpcb"):
    return {
        "path": path,
        "workload": workload,
        "clients": clients,
        "tps": tps,
        "latency_avg_ms": 1.0,
        "p50_ms": 1.0,
        "p99_ms": p99,
    }


def test_ratio_rows_take_the_median_of_runs_against_the_direct_path():
    results = [
        result("direct", 1000, 4.0),
        result("direct", 1200, 6.0),
        result("direct", 5000, 5.0),
        result("host-rw", 600, 10.0),
        result("host-rw", 600, 10.0),
    ]
    rows = {r["path"]: r for r in bench_stats.ratio_rows(results)}
    assert rows["direct"]["tps"] == 1200 and rows["direct"]["tps_vs_direct"] == 1.0
    assert rows["host-rw"]["tps_vs_direct"] == 0.5 and rows["host-rw"]["p99_vs_direct"] == 2.0


def test_ratio_rows_without_a_direct_figure_have_no_ratio():
    (row,) = bench_stats.ratio_rows([result("haproxy", 900, 3.0, clients=4)])
    assert row["tps_vs_direct"] is None and row["p99_vs_direct"] is None


def test_pgpass_line_escapes_colons_and_backslashes():
    assert bench.pgpass_line("app", "a:b\\c") == "*:*:*:app:a\\:b\\\\c\n"


TARGET = Target(
    "s",
    [("127.0.0.1", 5000), ("127.0.0.1", 5010)],
    [("127.0.0.1", 5001), ("127.0.0.1", 5011)],
    ["http://127.0.0.1:7000/", "http://127.0.0.1:7010/"],
    [],
    "appdb",
    "app",
    "secret",
    "",
)


def test_pgbench_argv_uses_prepared_statements_a_log_and_no_password():
    path = bench.BenchPath("direct", "net", "pgha-s-postgres-1", 5432)
    argv = bench.pgbench_argv(path, "select-only", 64, 10, TARGET)
    assert argv[:4] == ["pgbench", "-n", "-M", "prepared"] and "-l" in argv and "-S" in argv
    assert argv[argv.index("-j") + 1] == "64" and "secret" not in argv


def test_paths_reach_the_primarys_pgbouncer_and_postgres_and_haproxy_1():
    found = {p.name: p for p in bench.paths(TARGET, "postgres-2")}
    assert (found["pgbouncer"].host, found["pgbouncer"].port) == ("pgha-s-pgbouncer-2", 6433)
    assert (found["direct"].host, found["direct"].port) == ("pgha-s-postgres-2", 5432)
    assert (found["haproxy"].host, found["haproxy"].port) == ("pgha-s-haproxy-1", 5000)
    assert (found["host-rw"].client, found["host-rw"].host, found["host-rw"].port) == ("host", "127.0.0.1", 5000)
    assert found["host-ro"].port == 5001 and found["host-ro"].workloads == ("select-only",)


def test_plan_interleaves_paths_innermost_and_repeats_whole_passes():
    steps = bench.plan([1, 4], 2, bench.paths(TARGET, "postgres-1"))
    names = [(p.name, w, c) for p, w, c in steps]
    assert len(names) == 2 * (2 * 5 + 2 * 4) and names[: len(names) // 2] == names[len(names) // 2 :]
    assert [n for n, _, _ in names[:5]] == ["host-rw", "host-ro", "haproxy", "pgbouncer", "direct"]


REPORT = {
    "stack": "s",
    "primary": "postgres-1",
    "runs": 1,
    "seconds": 2,
    "scale": 10,
    "results": [
        result("direct", 1000, 4.0),
        {"path": "haproxy", "workload": "tpcb", "clients": 16, "error": "pgbench: error: boom"},
    ],
    "rows": bench_stats.ratio_rows([result("direct", 1000, 4.0), result("host-rw", 500, 8.0)]),
    "storm": {
        "clients": 50,
        "served": 50,
        "connect_p50_ms": 10.0,
        "connect_p99_ms": 20.0,
        "server_connections_peak": 12,
        "samples": 3,
        "errors": [],
    },
}


def test_markdown_orders_paths_and_shows_the_storm_and_failed_runs():
    text = bench_report.markdown(REPORT)
    lines = text.splitlines()
    assert lines[0].startswith("| workload | clients | path | TPS | vs direct")
    assert lines[2].startswith("| tpcb | 16 | host-rw | 500 | 0.50") and lines[3].startswith("| tpcb | 16 | direct")
    assert "storm: 50 of 50 clients served" in text and "failed run: tpcb c=16 haproxy: pgbench: error: boom" in text


def test_plot_writes_a_png(tmp_path):
    bench_report.plot(REPORT, tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"


def test_first_error_names_the_abort_not_the_closing_line():
    stderr = (
        "pgbench: error: client 7 script 0 aborted in command 8 query 0: ERROR:  deadlock detected\n"
        "pgbench: error: Run was aborted; the above results are incomplete.\n"
    )
    assert bench_stats.first_error(stderr).endswith("deadlock detected")
    assert bench_stats.first_error("") == "pgbench failed"


def _process(proc, pid: str, *argv: str) -> None:
    (proc / pid).mkdir()
    (proc / pid / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


def test_port_publishing_finds_the_docker_proxy_of_that_port_only(tmp_path):
    _process(tmp_path, "10", "/usr/sbin/docker-proxy", "-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", "5000")
    _process(tmp_path, "11", "postgres", "5001")
    assert bench.port_publishing(5000, tmp_path) == "docker-proxy"
    assert bench.port_publishing(5001, tmp_path) == "kernel NAT"
