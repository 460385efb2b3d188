"""Bench reports for people: a Markdown table of every path against the direct one, the storm, and a plot of
TPS and p99 latency by client count, one line per path."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from pgha.ops import status

COLUMNS = ("workload", "clients", "path", "TPS", "vs direct", "p50 ms", "p99 ms", "p99 vs direct")
PATH_ORDER = ("host-rw", "host-ro", "haproxy", "pgbouncer", "direct")
PATH_COLOURS = dict(
    zip(PATH_ORDER, ("tab:red", "tab:orange", "tab:blue", "tab:green", "black"), strict=True)
)  # same in every panel


def _show(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _order(row: dict) -> tuple:
    rank = PATH_ORDER.index(row["path"]) if row["path"] in PATH_ORDER else len(PATH_ORDER)
    return row["workload"], row["clients"], rank


def summary_rows(report: dict) -> list[tuple[str, ...]]:
    return [
        (
            r["workload"],
            str(r["clients"]),
            r["path"],
            _show(r.get("tps"), 0),
            _show(r.get("tps_vs_direct")),
            _show(r.get("p50_ms"), 3),
            _show(r.get("p99_ms"), 3),
            _show(r.get("p99_vs_direct")),
        )
        for r in sorted(report["rows"], key=_order)
    ]


def storm_line(report: dict) -> str:
    s = report.get("storm")
    if not s:
        return "storm: not run"
    line = (
        f"storm: {s['served']} of {s['clients']} clients served through rwEndpoint, connect p50 "
        f"{_show(s['connect_p50_ms'], 1)} ms, p99 {_show(s['connect_p99_ms'], 1)} ms, PostgreSQL server "
        f"connections at the peak {s['server_connections_peak']} ({s['samples']} samples)"
    )
    return line + (f"; errors: {'; '.join(s['errors'])}" if s["errors"] else "")


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def loop_lines(report: dict) -> list[str]:
    """The experiment loop: medians over the rounds, and where the seconds of the median-time round went."""
    rounds = report.get("loop") or []
    if not rounds:
        return ["experiment loop: not timed"]
    pick = lambda key: [r[key]["seconds"] for r in rounds]  # noqa: E731
    lines = [
        f"experiment loop ({len(rounds)} throwaway stacks of the default shape, medians): up to healthy "
        f"{_median([r['up_to_healthy_s'] for r in rounds])} s (pulumi up {_median(pick('up'))} s, then healthy "
        f"after {_median([r['healthy_after_up_s'] for r in rounds])} s), no-change preview "
        f"{_median(pick('preview'))} s, destroy {_median(pick('destroy'))} s"
    ]
    middle = sorted(rounds, key=lambda r: r["up_to_healthy_s"])[len(rounds) // 2]
    for command in ("up", "preview", "destroy"):
        timing = middle[command]
        steps = ", ".join(f"{name} {op} {seconds} s" for name, op, seconds in timing["slowest"]) or "none"
        lines.append(
            f"- {command} {timing['seconds']} s: {timing['to_first_event_s']} s before the engine's first "
            f"event (CLI, language host, program), {timing['changes']} resource steps; slowest: {steps}"
        )
    preview_messages = {m for r in rounds for m in r["preview"]["messages"]}
    lines.append(
        "- no-change preview: "
        + (
            "quiet, and no resource to change"
            if not preview_messages and not any(r["preview"]["changes"] for r in rounds)
            else f"changes {[r['preview']['changes'] for r in rounds]}, printed: {sorted(preview_messages)}"
        )
    )
    return lines


def failures(report: dict) -> list[str]:
    return [f"{r['workload']} c={r['clients']} {r['path']}: {r['error']}" for r in report["results"] if "error" in r]


def markdown(report: dict) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in summary_rows(report)]
    lines += ["", storm_line(report)] + [f"- failed run: {line}" for line in failures(report)]
    lines += ["", *loop_lines(report)]
    return "\n".join(lines) + "\n"


def tables(report: dict) -> str:
    """The same for a terminal."""
    text = status.aligned([COLUMNS, *summary_rows(report)]) + "\n" + storm_line(report)
    return "\n".join([text] + [f"failed run: {line}" for line in failures(report)] + loop_lines(report))


def plot(report: dict, path: Path) -> None:
    """TPS (top) and p99 latency (bottom) by client count, one panel per workload, one line per path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = sorted({r["workload"] for r in report["rows"]})
    fig, axes = plt.subplots(2, len(workloads), figsize=(5.5 * len(workloads), 7), squeeze=False)
    for column, workload in enumerate(workloads):
        rows = sorted((r for r in report["rows"] if r["workload"] == workload), key=_order)
        for name in dict.fromkeys(r["path"] for r in rows):
            mine = [r for r in rows if r["path"] == name]
            for row, key in ((0, "tps"), (1, "p99_ms")):
                points = [(r["clients"], r[key]) for r in mine if key in r]
                if points:
                    axes[row][column].plot(
                        *zip(*points, strict=True), marker="o", label=name, color=PATH_COLOURS.get(name)
                    )
        axes[0][column].set_title(f"{report['stack']}: {workload}")
        axes[0][column].set_ylabel("TPS")
        axes[1][column].set_ylabel("p99 latency ms")
        for row in (0, 1):
            axes[row][column].set_xscale("log", base=2)
            axes[row][column].set_xlabel("clients")
            axes[row][column].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(report_path: Path) -> Path:
    """Writes <report>.md and <report>.png beside the JSON report; returns the Markdown path."""
    report = json.loads(report_path.read_text())
    md, png = report_path.with_suffix(".md"), report_path.with_suffix(".png")
    plot(report, png)
    md.write_text(
        f"# Bench on stack {report['stack']} (primary {report['primary']}, {report['runs']} x "
        f"{report['seconds']} s per cell, medians, pgbench -M prepared, scale {report['scale']}; published "
        f"ports carried by {report.get('publishing', 'unknown')})\n\n"
        + markdown(report)
        + f"\n![TPS and p99 by clients]({png.name})\n"
    )
    return md
