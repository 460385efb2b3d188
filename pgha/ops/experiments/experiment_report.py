"""An experiment's comparison report: summary.json (each variant's settings and the figures its drills and bench
gave), summary.md (the variants side by side, each against the first, a difference smaller than the run-to-run
noise marked as such) and PNG charts: RTO per variant and scenario, lost acknowledged commits, TPS and p99."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pgha.model.experiments import Experiment

WITHIN_NOISE = "≈"
NOISE_NOTE = (
    f"{WITHIN_NOISE}: the difference from the first variant is within the run-to-run noise: the middle halves of "
    "the two overlap (the interquartile ranges from 4 samples on, the whole ranges below that)."
)


@dataclass(frozen=True)
class Metric:
    label: str
    samples: Callable[[dict], list[float]]  # from one variant's result
    count: bool = False  # lost commits, split brain: a total, where any difference matters
    of_trials: bool = False  # a count of trials, shown as "n of trials"
    digits: int = 2


def _trials(result: dict, scenario: str) -> list[dict]:
    return result.get("drills", {}).get(scenario, [])


def _runs(result: dict, workload: str) -> list[dict]:
    return [r for r in result.get("bench", {}).get(workload, []) if "error" not in r]


def _figure(rows: list[dict], key: str) -> list[float]:
    return [float(r[key]) for r in rows if r.get(key) is not None]


def _trial_figure(scenario: str, key: str) -> Callable[[dict], list[float]]:
    return lambda result: _figure(_trials(result, scenario), key)


def _split_brains(scenario: str) -> Callable[[dict], list[float]]:
    """1 for a trial with two primaries, seen by the probes or by the alert that pages for it."""
    return lambda result: [float(bool(t["split_brain"] or t["two_primary_alerts"])) for t in _trials(result, scenario)]


def _not_linearizable(scenario: str) -> Callable[[dict], list[float]]:
    """1 for a trial whose register history the checker did not find linearizable (or could not decide); trials from
    before the checker are left out."""
    return lambda result: [
        float(t["linearizable"] is not True) for t in _trials(result, scenario) if "linearizable" in t
    ]


def _run_figure(workload: str, key: str) -> Callable[[dict], list[float]]:
    return lambda result: _figure(_runs(result, workload), key)


def metrics(drills: list[str], workloads: list[str]) -> list[Metric]:
    found = []
    for s in drills:
        found += [
            Metric(f"{s}: RTO s", _trial_figure(s, "rto_s")),
            # With the leader pools holding clients through a failover, commits wait instead of failing: the gap
            # between two commits is the outage then, where the RTO (failed commits) may read 0.
            Metric(f"{s}: write gap s", _trial_figure(s, "write_gap_s")),
            Metric(f"{s}: read outage s", _trial_figure(s, "read_outage_s")),
            Metric(f"{s}: lost acked commits", _trial_figure(s, "lost_acked"), count=True),
            Metric(f"{s}: split brain (trials)", _split_brains(s), count=True, of_trials=True),
            Metric(f"{s}: not linearizable (trials)", _not_linearizable(s), count=True, of_trials=True),
        ]
    for w in workloads:
        found += [
            Metric(f"{w}: TPS", _run_figure(w, "tps"), digits=0),
            Metric(f"{w}: p99 ms", _run_figure(w, "p99_ms")),
        ]
    return found


def middle(values: list[float]) -> tuple[float, float]:
    """Where the middle half of the samples lies: the interquartile range from 4 samples on, the whole range below."""
    if len(values) >= 4:
        q1, _, q3 = statistics.quantiles(values, n=4)
        return q1, q3
    return min(values), max(values)


def versus(base: list[float], other: list[float], digits: int = 2) -> str:
    """`other` against `base`: the difference of medians and its ratio, or the noise mark."""
    if not base or not other:
        return "n/a"
    a, b = statistics.median(base), statistics.median(other)
    if len(base) < 2 or len(other) < 2:
        return f"{b - a:+.{digits}f} (one sample: noise unknown)"
    (base_low, base_high), (low, high) = middle(base), middle(other)
    if base_low <= high and low <= base_high:
        return WITHIN_NOISE
    return f"{b - a:+.{digits}f}" + (f" (x{b / a:.2f})" if a else "")


def cell(metric: Metric, samples: list[float], base: list[float] | None) -> str:
    if metric.count:
        return f"{sum(samples):.0f}" + (f" of {len(samples)}" if metric.of_trials else "")
    if not samples:
        return "n/a"
    d = metric.digits
    text = f"{statistics.median(samples):.{d}f} [{min(samples):.{d}f}-{max(samples):.{d}f}]"
    return text if base is None else f"{text} {versus(base, samples, d)}"


def rows(results: list[dict], drills: list[str], workloads: list[str]) -> list[list[str]]:
    """One row per metric: its label, then each variant's cell (median [min-max], against the first variant)."""
    table = []
    for metric in metrics(drills, workloads):
        samples = [metric.samples(r) for r in results]
        table.append([metric.label] + [cell(metric, s, None if i == 0 else samples[0]) for i, s in enumerate(samples)])
    table.append(["wall time s"] + [f"{sum(r['wall_s'].values()):.0f}" for r in results])
    return table


def workload_line(exp: Experiment, trials: int, bench_shape: dict) -> str:
    drills = f"drills {', '.join(exp.drills)} x {trials} trials" if exp.drills else "no drills"
    if not exp.bench:
        return drills + ", no bench"
    warmup = f" after a {bench_shape['warmup_s']} s warm-up" if bench_shape.get("warmup_s") else ""
    return (
        f"{drills}; bench {', '.join(exp.bench)} ({bench_shape['clients']} clients, {bench_shape['seconds']} s, "
        f"{bench_shape['runs']} runs{warmup}, through HAProxy and PgBouncer)"
    )


def markdown(
    exp: Experiment, trials: int, bench_shape: dict, results: list[dict], charts: list[str], wall_s: float
) -> str:
    names = [r["variant"] for r in results]
    head = ["| figure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    body = ["| " + " | ".join(row) + " |" for row in rows(results, exp.drills, exp.bench)]
    settings = [
        f"- `{r['variant']}` (stack {r['stack']}): "
        + ", ".join(f"{k.split(':', 1)[1]}={v}" for k, v in r["settings"].items() if not k.endswith("Port"))
        for r in results
    ]
    drill_links = [
        f"- {r['variant']}: [{r['drills']['report']}]({Path(r['drills']['report']).with_suffix('.md')})"
        for r in results
        if "report" in r.get("drills", {})
    ]
    return "\n".join(
        [
            f"# Experiment {exp.name}",
            "",
            f"{exp.question}",
            "",
            f"Workload: {workload_line(exp, trials, bench_shape)}. Cells: median [min-max] of the trials or runs, then "
            f"the difference from `{names[0]}`. Wall time of the whole experiment: {wall_s / 60:.1f} min.",
            "",
            *head,
            *body,
            "",
            NOISE_NOTE,
            "",
            "Variants:",
            *settings,
            "",
            *(["Drill reports:", *drill_links, ""] if drill_links else []),
            *[f"![{c}]({c})" for c in charts],
            "",
        ]
    )


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


OUTAGES = (("rto_s", "RTO (failed commits), s"), ("write_gap_s", "write gap (held or failed), s"))


def plot_rto(results: list[dict], drills: list[str], path: Path) -> None:
    """Per scenario, each variant's trials as points over their box: the RTO, and the write gap beneath it."""
    plt = _pyplot()
    width = 3 + 1.1 * len(results) * len(drills)
    fig, axes = plt.subplots(len(OUTAGES), len(drills), figsize=(width, 6), squeeze=False)
    names = [r["variant"] for r in results]
    for row, (key, label) in zip(axes, OUTAGES, strict=True):
        for ax, scenario in zip(row, drills, strict=True):
            data = [_figure(_trials(r, scenario), key) for r in results]
            ax.boxplot([d or [float("nan")] for d in data], showfliers=False)
            for i, values in enumerate(data, 1):
                ax.scatter([i + 0.08 * ((j % 5) - 2) for j in range(len(values))], values, s=12, alpha=0.7)
            ax.set_xticks(range(1, len(names) + 1), names, rotation=20)
            ax.set_ylabel(label)
            ax.set_title(scenario, fontsize=10)
            ax.set_ylim(bottom=0)
    _save(plt, fig, path)


def plot_counts(results: list[dict], drills: list[str], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(results) * len(drills)), 3.2))
    width = 0.8 / len(results)
    for i, r in enumerate(results):
        lost = [sum(_figure(_trials(r, s), "lost_acked")) for s in drills]
        ax.bar([d + i * width for d in range(len(drills))], lost, width, label=r["variant"])
    ax.set_xticks([d + 0.4 - width / 2 for d in range(len(drills))], drills)
    ax.set_ylabel("acknowledged commits lost (all trials)")
    ax.legend(fontsize=8)
    _save(plt, fig, path)


def plot_bench(results: list[dict], workloads: list[str], path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(len(workloads), 2, figsize=(9, 3 * len(workloads)), squeeze=False)
    names = [r["variant"] for r in results]
    for row, workload in zip(axes, workloads, strict=True):
        for ax, key, label in ((row[0], "tps", "TPS"), (row[1], "p99_ms", "p99 latency, ms")):
            data = [_figure(_runs(r, workload), key) for r in results]
            medians = [statistics.median(d) if d else 0.0 for d in data]
            low = [m - min(d) if d else 0.0 for m, d in zip(medians, data, strict=True)]
            high = [max(d) - m if d else 0.0 for m, d in zip(medians, data, strict=True)]
            ax.bar(names, medians, yerr=[low, high], capsize=4, color="tab:blue")
            ax.set_ylabel(label)
            ax.set_title(f"{workload}: {label} (median, min-max of runs)", fontsize=9)
    _save(plt, fig, path)


def charts(report_dir: Path, results: list[dict], drills: list[str], workloads: list[str]) -> list[str]:
    made = []
    for name, items, draw in (
        ("rto.png", drills, plot_rto),
        ("lost.png", drills, plot_counts),
        ("bench.png", workloads, plot_bench),
    ):
        if items:
            draw(results, items, report_dir / name)
            made.append(name)
    return made


def write(
    report_dir: Path, exp: Experiment, trials: int, bench_shape: dict, started: float, results: list[dict]
) -> Path:
    """summary.json, summary.md and the charts in `report_dir`; returns summary.md."""
    wall_s = time.time() - started
    summary = {
        "experiment": exp.name,
        "question": exp.question,
        "trials": trials,
        "drills": exp.drills,
        "bench": exp.bench,
        "bench_shape": bench_shape,
        "wall_s": round(wall_s, 1),
        "variants": results,
        "table": rows(results, exp.drills, exp.bench),
    }
    (report_dir / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    made = charts(report_dir, results, exp.drills, exp.bench)
    path = report_dir / "summary.md"
    path.write_text(markdown(exp, trials, bench_shape, results, made, wall_s))
    return path
