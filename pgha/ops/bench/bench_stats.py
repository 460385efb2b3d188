"""Pure figures of a benchmark: pgbench's summary and per-transaction log read into numbers, percentiles,
and each path's throughput as a ratio of the direct path's."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

DIRECT = "direct"  # the path every other is compared with: PostgreSQL itself, from inside the stack network
SUMMARY = {
    "tps": re.compile(r"^tps = ([\d.]+) \(without initial connection time\)", re.M),
    "latency_avg_ms": re.compile(r"^latency average = ([\d.]+) ms", re.M),
    "processed": re.compile(r"^number of transactions actually processed: (\d+)", re.M),
    "failed": re.compile(r"^number of failed transactions: (\d+)", re.M),
}


def parse_summary(text: str) -> dict[str, float]:
    """The figures pgbench prints at the end of a run; a figure it did not print is left out."""
    found = {key: pattern.search(text) for key, pattern in SUMMARY.items()}
    return {key: float(match.group(1)) for key, match in found.items() if match}


def first_error(stderr: str) -> str:
    """Why a pgbench run failed: its first error (a client's abort names the server's message), not the
    closing "Run was aborted" line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return next((line for line in lines if "error" in line.lower()), lines[-1] if lines else "pgbench failed")


def log_latencies_ms(text: str) -> list[float]:
    """Each transaction's latency from pgbench's `-l` log: `client transaction time_us script epoch us ...`;
    a transaction that was skipped or failed has a word instead of a time and is left out."""
    latencies = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2].isdigit():
            latencies.append(int(fields[2]) / 1000.0)
    return latencies


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def run_figures(summary_text: str, log_text: str) -> dict[str, float]:
    """One pgbench run: its summary plus p50/p99 latency from its transaction log."""
    figures = parse_summary(summary_text)
    latencies = log_latencies_ms(log_text)
    if latencies:
        figures.update(p50_ms=round(percentile(latencies, 0.50), 3), p99_ms=round(percentile(latencies, 0.99), 3))
    return figures


def combined(runs: list[dict]) -> dict[str, float]:
    """Repeated runs of one cell as one figure each: the median of the runs."""
    keys = ("tps", "latency_avg_ms", "p50_ms", "p99_ms")
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in keys if all(k in r for r in runs)}


def cells(results: list[dict]) -> dict[tuple[str, int, str], dict[str, float]]:
    """(workload, clients, path) -> the median figures of its runs."""
    grouped: dict[tuple[str, int, str], list[dict]] = {}
    for r in results:
        grouped.setdefault((r["workload"], r["clients"], r["path"]), []).append(r)
    return {key: combined(runs) for key, runs in grouped.items()}


def ratio_rows(results: list[dict]) -> list[dict]:
    """One row per (workload, clients, path): median TPS, latencies, and TPS and p99 against the direct path."""
    table = cells(results)
    rows = []
    for (workload, clients, path), figures in table.items():
        direct = table.get((workload, clients, DIRECT), {})
        tps_ratio = figures.get("tps", 0) / direct["tps"] if direct.get("tps") else None
        p99_ratio = figures["p99_ms"] / direct["p99_ms"] if direct.get("p99_ms") and "p99_ms" in figures else None
        rows.append(
            dict(
                workload=workload,
                clients=clients,
                path=path,
                **figures,
                tps_vs_direct=None if tps_ratio is None else round(tps_ratio, 3),
                p99_vs_direct=None if p99_ratio is None else round(p99_ratio, 3),
            )
        )
    return rows
