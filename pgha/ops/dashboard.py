"""The standard panels of a stack's Prometheus over a window, as one PNG: `make dashboard` over the last minutes,
and the drill reports over each trial's window, with the fault and the recovery marked."""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pgha.clients import prometheus as metrics

MAX_POINTS = 600
SINCE_UNITS = {"s": 1, "m": 60, "h": 3600}
LINE_STYLES = ("-", "--", ":", "-.")
TICK_INTERVALS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600)  # on whole minutes, hours
MARK_STYLES = (("black", "--"), ("green", ":"), ("tab:gray", "-."))  # the fault as in the drill plots, then recovery


# One colour per member, none of them red: red is for failures.
MEMBER_COLOURS = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
    "tab:gray",
)


@dataclass(frozen=True)
class Panel:
    title: str
    expr: str
    name: str  # a series' legend entry: a format string over its labels
    unit: str  # the y axis label; "bytes" gets kB/MB ticks
    style_by: str = ""  # a label whose values get a line style each (the colour stays the member's)
    lanes: bool = False  # the leader: a band per member, thick while it leads, thin while not, nothing without data


PANELS = (
    # irate: the last two scrapes, a second apart, so a failover's second shows instead of a 5 s average.
    Panel(
        "Commit rate per member (database app)",
        'irate(pg_stat_database_xact_commit{datname="app"}[5s])',
        "{member}",
        "commits/s",
    ),
    Panel(
        "Replication lag per replica (primary's WAL position - replica's replayed position)",
        "scalar(max(patroni_xlog_location and on(member) patroni_primary == 1))"
        " - (patroni_xlog_replayed_location and on(member) patroni_replica == 1)",
        "{member}",
        "bytes",
    ),
    # The exporter also reports PgBouncer's admin database, which no application client uses.
    Panel(
        "PgBouncer clients active per pool",
        'sum by (member, pool) (pgbouncer_pools_client_active_connections{database!="pgbouncer"})',
        "{member} {pool} pool",
        "clients",
        style_by="pool",
    ),
    Panel(
        "PgBouncer clients waiting for a server per pool",
        'sum by (member, pool) (pgbouncer_pools_client_waiting_connections{database!="pgbouncer"})',
        "{member} {pool} pool",
        "clients",
        style_by="pool",
    ),
    Panel("Leader per member (patroni_primary)", "patroni_primary", "{member}", "", lanes=True),
    Panel(
        "HAProxy backend servers up",
        'haproxy_backend_active_servers{proxy=~"read_write|read_only"}',
        "{member} {proxy}",
        "servers",
        style_by="proxy",
    ),
)


@dataclass(frozen=True)
class Series:
    name: str
    labels: dict
    times: list[float]  # seconds from the zero time, or epoch seconds without one
    values: list[float]  # NaN between samples more than a step apart, so that a missing scrape is a gap


def since_seconds(text: str) -> float:
    """`90s`, `10m`, `2h` as seconds."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([smh])", text.strip())
    if not found or float(found[1]) == 0:
        raise ValueError(f"not a duration: {text!r}; expected a positive number and s, m or h (90s, 10m, 2h)")
    return float(found[1]) * SINCE_UNITS[found[2]]


def step_for(start: float, end: float) -> float:
    """Seconds between points: at most about MAX_POINTS over the window, never below the 1 s scrapes."""
    return float(max(1, math.ceil((end - start) / MAX_POINTS)))


def to_series(panel: Panel, result: list[dict], step: float, zero: float | None = None) -> list[Series]:
    """A `query_range` result as plot-ready series, by name."""
    found = []
    for raw in result:
        labels = raw["metric"]
        times: list[float] = []
        values: list[float] = []
        for at, text in raw["values"]:
            at = float(at) - (zero or 0.0)
            if times and at - times[-1] > step * 1.5:
                times.append((times[-1] + at) / 2)
                values.append(math.nan)
            times.append(at)
            values.append(float(text))
        found.append(Series(panel.name.format_map(labels), labels, times, values))
    return sorted(found, key=lambda s: s.name)


def member_colour(member: str) -> str:
    """A member's colour in every chart, by its number; grey for a name without one."""
    number = re.search(r"-(\d+)$", member)
    return MEMBER_COLOURS[(int(number[1]) - 1) % len(MEMBER_COLOURS)] if number else "tab:gray"


def _spans(series: Series, value: float, step: float) -> list[tuple[float, float]]:
    """(start, width) of each run of samples equal to `value`, each sample standing for one step."""
    spans: list[tuple[float, float]] = []
    for at, v in zip(series.times, series.values, strict=True):
        if v != value:
            continue
        if spans and abs(sum(spans[-1]) - at) < step / 2:
            spans[-1] = (spans[-1][0], spans[-1][1] + step)
        else:
            spans.append((at, step))
    return spans


def _draw_lanes(ax, series: list[Series], step: float) -> None:
    for lane, s in enumerate(series):
        ax.broken_barh(_spans(s, 1.0, step), (lane - 0.35, 0.7), color=member_colour(s.labels.get("member", "")))
        ax.broken_barh(_spans(s, 0.0, step), (lane - 0.04, 0.08), color=member_colour(s.labels.get("member", "")))
    ax.set_yticks(range(len(series)), [s.name for s in series])
    ax.set_ylim(len(series) - 0.5, -0.5)  # the first member on top
    ax.legend(
        handles=[
            ax.plot([], [], color="tab:gray", lw=8, label="thick: holds the leader lock")[0],
            ax.plot([], [], color="tab:gray", lw=3, label="thin: up, not the leader")[0],
            ax.plot([], [], color="none", label="gap: no data (down)")[0],
        ],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=7,
    )


def _draw_lines(ax, panel: Panel, series: list[Series]) -> None:
    from matplotlib.ticker import EngFormatter, MaxNLocator

    styles = sorted({s.labels.get(panel.style_by, "") for s in series})
    members = sorted({s.labels.get("member", "") for s in series})
    for s in series:
        style = LINE_STYLES[styles.index(s.labels.get(panel.style_by, "")) % len(LINE_STYLES)]
        # The first members' lines wider, drawn first: where members agree (both HAProxies, idle replicas at 0)
        # every one of them still shows.
        width = max(1.0, 3.0 - 0.8 * members.index(s.labels.get("member", "")))
        ax.plot(
            s.times,
            s.values,
            color=member_colour(s.labels.get("member", "")),
            linestyle=style,
            linewidth=width,
            label=s.name,
        )
    present = [v for s in series for v in s.values if not math.isnan(v)]
    top = max(1.0, *present) * 1.15  # a flat 0 stays readable
    ax.set_ylim(min(0.0, *present) - 0.04 * top, top)  # a line at 0 sits just above the axis, not on it
    if panel.unit == "bytes":
        ax.yaxis.set_major_formatter(EngFormatter(unit="B"))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(panel.unit)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)


def draw(
    panels: Sequence[tuple[Panel, list[Series]]],
    start: float,
    end: float,
    step: float,
    path: Path,
    marks: Sequence[tuple[float, str]] = (),
    zero: float | None = None,
    title: str = "",
) -> Path:
    """The panels stacked on one time axis (seconds from `zero`, or the wall clock), `marks` as labelled vertical
    lines; written to `path` as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    shift = zero or 0.0
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 2.3 * len(panels) + 0.8), sharex=True, squeeze=False)
    for ax, (panel, series) in zip(axes[:, 0], panels, strict=True):
        ax.set_title(panel.title, loc="left", fontsize=9)
        ax.grid(alpha=0.3)
        if not series:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="tab:gray")
            ax.set_yticks([])
        elif panel.lanes:
            _draw_lanes(ax, series, step)
        else:
            _draw_lines(ax, panel, series)
        for (at, label), (colour, style) in zip(marks, itertools.cycle(MARK_STYLES)):
            ax.axvline(at - shift, color=colour, linestyle=style, linewidth=1.2)
            if ax is axes[0, 0]:
                # Written after the line, or before it when the line is near the right edge (a recovery just now).
                before = at - start > 0.85 * (end - start)
                ax.annotate(
                    label,
                    (at - shift, 1.0),
                    xycoords=("data", "axes fraction"),
                    xytext=(-3 if before else 3, -3),
                    textcoords="offset points",
                    va="top",
                    ha="right" if before else "left",
                    fontsize=8,
                    color=colour,
                )
    bottom = axes[-1, 0]
    bottom.set_xlim(start - shift, end - shift)
    bottom.xaxis.set_major_locator(
        MultipleLocator(next((n for n in TICK_INTERVALS_S if (end - start) / n <= 10), TICK_INTERVALS_S[-1]))
    )
    if zero is None:
        bottom.xaxis.set_major_formatter(FuncFormatter(lambda x, _: time.strftime("%H:%M:%S", time.localtime(x))))
        bottom.set_xlabel(f"time ({time.strftime('%Z')})")
    else:
        named = [label for at, label in marks if at == zero]
        bottom.set_xlabel(
            f"seconds from the {named[0]}"
            if named
            else f"seconds from {time.strftime('%H:%M:%S %Z', time.localtime(zero))}"
        )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render(
    prometheus_url: str,
    start: float,
    end: float,
    path: Path,
    marks: Sequence[tuple[float, str]] = (),
    zero: float | None = None,
    title: str = "",
) -> Path:
    """Queries every panel of PANELS over [start, end] (epoch seconds) and draws them into the PNG `path`."""
    step = step_for(start, end)
    panels = [
        (panel, to_series(panel, metrics.query_range(prometheus_url, panel.expr, start, end, step), step, zero))
        for panel in PANELS
    ]
    return draw(panels, start, end, step, path, marks, zero, title)
