"""Drill reports for people: a Markdown summary table and, per scenario, a plot of the probes."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from pgha.ops.dashboard import member_colour

COLUMNS = (
    "scenario",
    "trials",
    "RTO p50 s",
    "RTO p95 s",
    "RTO max s",
    "read outage p50 s",
    "write gap p50 s",
    "failed commits max",
    "commit p50 ms",
    "commit p99 ms",
    "longest commit s",
    "lost acked",
    "split brain",
    "linearizable",
    "two-primary alerts",
)
# The alert that would page for split brain (config/prometheus-alerts.yml): no scenario may ever raise it.
SPLIT_BRAIN_ALERT = "PghaMultiplePrimaries"
ALERT_COLUMNS = ("scenario", "trial", "alert", "where", "fired s", "resolved s")
# Per trial: the register workload's history as the linearizability checker judged it, and the read-only path's reads.
CONSISTENCY_COLUMNS = (
    "scenario",
    "trial",
    "ops checked",
    "unknown",
    "failed",
    "linearizable",
    "checker s",
    "ro reads",
    "ro staleness p50 ms",
    "ro staleness max ms",
    "visualization",
)
VERDICTS = {True: "yes", False: "NO", None: "unknown"}  # None: the checker ran out of time


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _cell(values: list, fn) -> str:
    present = [v for v in values if v is not None]
    return f"{fn(present):.2f}" if present else "n/a"


RECOVERY_COLUMNS = (
    "scenario",
    "trials",
    "restore p50 s",
    "restore max s",
    "database MB",
    "acked before target",
    "missing before target",
    "present after target",
    "lost acked",
    "lost window max s",
    "archive_timeout s",
    "replica built by",
)


def _is_recovery(trials: list[dict]) -> bool:
    return "restore_s" in trials[0]


def summary_rows(report: dict) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for name, trials in report["scenarios"].items():
        if _is_recovery(trials):
            continue
        rto = [t["rto_s"] for t in trials]
        commits = [w["end"] - w["start"] for t in trials for w in t["writes"]]  # seconds from asking to the answer
        rows.append(
            (
                name,
                str(len(trials)),
                _cell(rto, statistics.median),
                _cell(rto, lambda v: _percentile(v, 0.95)),
                _cell(rto, max),
                _cell([t["read_outage_s"] for t in trials], statistics.median),
                _cell([t["write_gap_s"] for t in trials], statistics.median),
                str(max(sum(1 for w in t["writes"] if not w["ok"]) for t in trials)),
                _cell([1000 * c for c in commits], statistics.median),
                _cell([1000 * c for c in commits], lambda v: _percentile(v, 0.99)),
                _cell(commits, max),
                str(sum(t["lost_acked"] for t in trials)),
                str(sum(1 for t in trials if t["split_brain"])),
                _linearizable_cell(trials),
                _alerts_cell(trials),
            )
        )
    return rows


def _alerts_cell(trials: list[dict]) -> str:
    """Trials in which the split-brain alert fired; n/a when the stack collected no metrics."""
    if not any(t.get("metrics_png") for t in trials):
        return "n/a"
    return str(sum(1 for t in trials if any(a["alert"] == SPLIT_BRAIN_ALERT for a in t["alerts"])))


def _linearizable_cell(trials: list[dict]) -> str:
    """Trials whose register history the checker found linearizable, of those it judged: `3 of 3`, plus the ones it
    could not decide in time; n/a for a report from before the checker."""
    judged = [t["consistency"]["linearizable"] for t in trials if t.get("consistency")]
    if not judged:
        return "n/a"
    undecided = sum(1 for v in judged if v is None)
    return f"{sum(1 for v in judged if v is True)} of {len(judged)}" + (f" ({undecided} unknown)" if undecided else "")


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{1000 * seconds:.1f}"


def consistency_rows(report: dict) -> list[tuple[str, ...]]:
    """One row per failover trial that ran the register workload."""
    rows: list[tuple[str, ...]] = []
    for name, trials in report["scenarios"].items():
        for t in trials:
            c = t.get("consistency")
            if not c:
                continue
            html = Path(c["html"]).name if c["html"] else ""
            rows.append(
                (
                    name,
                    str(t["trial"]),
                    str(c["operations"]),
                    str(c["unknown"]),
                    str(c["failed"]),
                    VERDICTS[c["linearizable"]],
                    f"{c['checker_s']:.2f}",
                    f"{c['ro_reads']}" + (f" ({c['ro_failed']} failed)" if c["ro_failed"] else ""),
                    _ms(c["staleness_p50_s"]),
                    _ms(c["staleness_max_s"]),
                    f"[{html}]({html})" if html else "-",
                )
            )
    return rows


def alert_rows(report: dict) -> list[tuple[str, ...]]:
    """Every alert that fired during a failover trial, with its times from the fault."""
    rows: list[tuple[str, ...]] = []
    for name, trials in report["scenarios"].items():
        for t in trials:
            for a in t.get("alerts", []):
                where = ", ".join(
                    f"{k}={v}" for k, v in sorted(a["labels"].items()) if k in ("member", "pool", "proxy")
                )
                resolved = "still firing" if a["resolved_s"] is None else f"{a['resolved_s']:.1f}"
                rows.append((name, str(t["trial"]), a["alert"], where or "cluster", f"{a['fired_s']:.1f}", resolved))
    return rows


def recovery_rows(report: dict) -> list[tuple[str, ...]]:
    """The disaster-recovery drills (pgha/ops/backups/recovery.py): how long a restore took, and what it brought back."""
    rows: list[tuple[str, ...]] = []
    for name, trials in report["scenarios"].items():
        if not _is_recovery(trials):
            continue
        restore = [t["restore_s"] for t in trials]
        rows.append(
            (
                name,
                str(len(trials)),
                _cell(restore, statistics.median),
                _cell(restore, max),
                _cell([t["database_mb"] for t in trials], statistics.median),
                str(sum(t["acked_before_target"] for t in trials)),
                str(sum(t["missing_before_target"] for t in trials)),
                str(sum(t["present_after_target"] for t in trials)),
                str(sum(t["lost_acked"] for t in trials)),
                _cell([t["lost_window_s"] for t in trials], max),
                ", ".join(sorted({str(t["archive_timeout_s"]) for t in trials if t["archive_timeout_s"]})) or "-",
                ", ".join(sorted({t["created_by"] for t in trials if t["created_by"]})) or "-",
            )
        )
    return rows


def _table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)] + [
        "| " + " | ".join(r) + " |" for r in rows
    ]


def markdown(report: dict) -> str:
    failover, recovered = summary_rows(report), recovery_rows(report)
    lines = _table(COLUMNS, failover) if failover else []
    if recovered:
        lines += ([""] if lines else []) + _table(RECOVERY_COLUMNS, recovered)
    consistency = consistency_rows(report)
    if consistency:
        lines += [
            "",
            "Consistency: the register workload checked for linearizability (porcupine); the read-only path's staleness:",
            "",
            *_table(CONSISTENCY_COLUMNS, consistency),
        ]
    alerts = alert_rows(report)
    if alerts:
        lines += ["", "Alerts that fired (seconds from the fault):", "", *_table(ALERT_COLUMNS, alerts)]
    return "\n".join(lines) + "\n"


def plot(report: dict, scenario: str, path: Path) -> None:
    """Each write and read attempt against time from the fault: successes by member, failures in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trial = report["scenarios"][scenario][0]
    fig, ax = plt.subplots(figsize=(10, 3.2))
    for lane, key in ((1, "writes"), (0, "reads")):
        attempts = trial[key]
        members = sorted({a["member"] for a in attempts if a["ok"]})
        for member in members:
            xs = [a["end"] for a in attempts if a["ok"] and a["member"] == member]
            colour = member_colour(member)
            ax.scatter(xs, [lane] * len(xs), s=6, color=colour, label=f"{key[:-1]} ok on {member}")
        xs = [a["end"] for a in attempts if not a["ok"]]
        ax.scatter(xs, [lane] * len(xs), s=18, color="red", marker="x", label=f"{key[:-1]} failed" if xs else None)
    ax.axvline(0, color="black", linestyle="--", label="fault")
    if trial["rto_s"] is not None:
        ax.axvline(trial["rto_s"], color="green", linestyle=":", label=f"writes back ({trial['rto_s']:.2f} s)")
    ax.set_yticks([0, 1], ["reads (roEndpoints)", "writes (rwEndpoints)"])
    ax.set_ylim(-0.6, 1.6)
    ax.set_xlabel("seconds from the fault")
    ax.set_title(f"{report['stack']}: {scenario}, trial 1")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(report_path: Path) -> Path:
    """Writes <report>.md and one PNG per scenario beside the JSON report; returns the Markdown path."""
    report = json.loads(report_path.read_text())
    md = report_path.with_suffix(".md")
    text = f"# Drill on stack {report['stack']} (Patroni ttl {report['ttl']} s)\n\n" + markdown(report)
    for scenario in report["scenarios"]:
        png = report_path.with_name(f"{report_path.stem}-{scenario}.png")
        plot(report, scenario, png)
        text += f"\n![{scenario}]({png.name})\n"
        for trial in report["scenarios"][scenario]:
            if trial.get("metrics_png"):
                text += f"\n![{scenario} #{trial['trial']}: metrics]({trial['metrics_png']})\n"
    md.write_text(text)
    return md
