"""A deployed stack's Prometheus, through its HTTP API: targets, series over a window, and the alerts that fired."""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

TIMEOUT_S = 10


class PrometheusError(RuntimeError):
    pass


def _get(url: str, path: str, params: dict | None = None) -> dict:
    try:
        response = requests.get(f"{url}{path}", params=params, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        raise PrometheusError(f"Prometheus at {url} does not answer: {exc}") from exc
    body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
    if response.status_code != 200 or body.get("status") != "success":
        raise PrometheusError(f"{path} {params or ''}: {response.status_code} {body.get('error', response.text[:200])}")
    return body["data"]


@dataclass(frozen=True)
class ScrapeTarget:
    job: str
    member: str
    pool: str
    health: str  # up | down | unknown
    error: str


def targets(url: str) -> list[ScrapeTarget]:
    """Every active target, by job then member."""
    found = [
        ScrapeTarget(
            t["labels"]["job"], t["labels"].get("member", ""), t["labels"].get("pool", ""), t["health"], t["lastError"]
        )
        for t in _get(url, "/api/v1/targets", {"state": "active"})["activeTargets"]
    ]
    return sorted(found, key=lambda t: (t.job, t.member, t.pool))


def query(url: str, expr: str, at: float | None = None) -> list[dict]:
    """An instant query, now or `at` (epoch seconds): [{"metric": labels, "value": [time, "text"]}, ...]."""
    return _get(url, "/api/v1/query", {"query": expr} | ({"time": at} if at is not None else {}))["result"]


def query_range(url: str, expr: str, start: float, end: float, step: float) -> list[dict]:
    """A range query: [{"metric": labels, "values": [[time, "text"], ...]}, ...]."""
    return _get(url, "/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step})["result"]


@dataclass(frozen=True)
class AlertSpan:
    alert: str
    labels: dict  # the alert's own labels, without alertname, alertstate and severity
    severity: str
    fired: float  # epoch seconds of the first evaluation that found it firing
    resolved: float | None  # of the first that no longer did; None while it still fires at the window's end

    def relative_to(self, zero: float) -> dict:
        """As a report holds it: seconds from `zero` (a fault)."""
        return {
            "alert": self.alert,
            "labels": self.labels,
            "severity": self.severity,
            "fired_s": round(self.fired - zero, 1),
            "resolved_s": None if self.resolved is None else round(self.resolved - zero, 1),
        }


def _spans(series: dict, step: float, firing_at_end: bool) -> list[AlertSpan]:
    """Each spell of one alert's ALERTS series: a gap in its points is a resolution."""
    labels = {k: v for k, v in series["metric"].items() if k not in ("__name__", "alertname", "alertstate", "severity")}
    spells: list[tuple[float, float | None]] = []
    fired: float | None = None
    last = 0.0  # the latest point's time, read only once a spell has started
    for at, _ in series["values"]:
        at = float(at)
        if fired is not None and at - last > step * 1.5:
            spells.append((fired, last + step))
            fired = None
        fired = at if fired is None else fired
        last = at
    if fired is not None:
        spells.append((fired, None if firing_at_end else last + step))
    name, severity = series["metric"]["alertname"], series["metric"].get("severity", "")
    return [AlertSpan(name, labels, severity, start, stop) for start, stop in spells]


FIRING = 'ALERTS{alertstate="firing"}'


def alerts_between(url: str, start: float, end: float, step: float = 1.0) -> list[AlertSpan]:
    """The alerts that fired between `start` and `end` (epoch seconds), each spell of firing a span, by time; a span
    is unresolved only if its alert still fires at `end`."""
    at_end = {tuple(sorted(r["metric"].items())) for r in query(url, FIRING, at=end)}
    spans = [
        span
        for series in query_range(url, FIRING, start, end, step)
        for span in _spans(series, step, tuple(sorted(series["metric"].items())) in at_end)
    ]
    return sorted(spans, key=lambda s: (s.fired, s.alert))


def firing(url: str) -> list[str]:
    """The alerts firing now, as `name{member}`."""
    return sorted(f"{r['metric']['alertname']}{{{r['metric'].get('member', '')}}}" for r in query(url, FIRING))


def settle(url: str, deadline_s: float, poll_s: float = 1.0) -> list[str]:
    """Waits until no alert fires, for at most `deadline_s`; returns those still firing then (none: settled)."""
    deadline = time.monotonic() + deadline_s
    while (still := firing(url)) and time.monotonic() < deadline:
        time.sleep(poll_s)
    return still


def target_problems(found: list[ScrapeTarget], expected: dict[str, int]) -> list[str]:
    """What keeps the targets from being `expected` (job -> how many), every one of them up."""
    problems = []
    for job, count in sorted(expected.items()):
        of_job = [t for t in found if t.job == job]
        if len(of_job) != count:
            problems.append(f"{job}: {len(of_job)} targets, expected {count}")
        problems += [
            f"{job} {t.member} {t.pool}".rstrip() + f" is {t.health}: {t.error}".rstrip(": ")
            for t in of_job
            if t.health != "up"
        ]
    return problems


def wait_targets(url: str, expected: dict[str, int], deadline_s: float) -> float:
    """Seconds until every expected target is discovered and up; TimeoutError naming what is not, after `deadline_s`."""
    start = time.monotonic()
    while problems := target_problems(targets(url), expected):
        if time.monotonic() - start > deadline_s:
            raise TimeoutError(f"scrape targets not all up after {deadline_s:.0f}s: " + "; ".join(problems))
        time.sleep(1)
    return round(time.monotonic() - start, 1)
