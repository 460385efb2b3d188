"""Failover drills: run a scenario N times against a deployed stack, measure each trial from the
client's side, heal and wait for the cluster to converge, and write a report."""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from pgha.clients import patroni_api
from pgha.clients import prometheus as metrics
from pgha.ops import dashboard, status
from pgha.ops.drills import linearizability, probe, register, timeline
from pgha.ops.drills.faults import SCENARIOS, Context, Refused, Scenario, refusals
from pgha.ops.target import Target

BASELINE_S = 2.0  # probes run this long before the fault
STEADY_S = 3.0  # the writer must succeed this long after the fault before healing
CONVERGE_S = 90.0  # deadline for the cluster to be whole again after healing
ALERTS_SETTLE_S = 30.0  # deadline for the alerts of a trial to resolve once the cluster is whole


@dataclass
class Trial:
    scenario: str
    trial: int
    rto_s: float | None = None
    read_outage_s: float | None = None
    write_gap_s: float | None = None
    lost_acked: int = 0
    lost_by_member: dict = field(default_factory=dict)
    split_brain: bool = False
    old_primary: str = ""
    new_primary: str = ""
    converged_s: float | None = None
    notes: list = field(default_factory=list)
    writes: list = field(default_factory=list)
    reads: list = field(default_factory=list)
    fault_at: float = 0.0
    fault_wall: float = 0.0  # the fault and the cluster whole again, as epoch seconds: Prometheus' time
    recovered_wall: float = 0.0
    alerts: list = field(default_factory=list)  # each firing spell: alert, labels, fired_s, resolved_s (from the fault)
    metrics_png: str = ""  # the dashboard panels over the trial, beside the report
    # The register workload's history judged by the linearizability checker, and the read-only path's staleness
    # (consistency(), below).
    consistency: dict = field(default_factory=dict)


def _members_by_address(target: Target, members: list[dict]) -> dict[str, str]:
    """inet_server_addr() -> member. On one engine Patroni lists each member by its address; on a Swarm by its name
    (its alias on the overlay), so there the addresses are the postgres tasks' own, as their nodes list them."""
    found = {m["host"]: m["name"] for m in members}
    if target.is_swarm:
        found.update(target.addresses("postgres"))
    return found


def _named(attempts: list[timeline.Attempt], by_address: dict[str, str]) -> list[timeline.Attempt]:
    """Attempts answered by an address learnt after they ran (a task Swarm started during the trial, on a new
    address) named by it; those named as they ran keep their name, should an address have passed to another task."""
    return [
        replace(a, member=by_address[a.member.split("/")[0]])
        if a.member and a.member.split("/")[0] in by_address and a.member not in by_address.values()
        else a
        for a in attempts
    ]


def rows_on(target: Target, member: str, run: str) -> set[int]:
    rows = target.psql(member, f"SELECT seq FROM {probe.PROBE_TABLE} WHERE run = '{run}'")
    return {int(line) for line in rows.split()}


def _wait_steady(writer: probe.Probe, fault_at: float, deadline: float) -> None:
    """Until the writer has succeeded for STEADY_S on end after the fault, or the deadline."""
    while time.monotonic() < deadline:
        recent = [a for a in writer.attempts if a.end > fault_at]
        failures = [a.end for a in recent if not a.ok]
        since = max(failures, default=fault_at)
        if any(a.ok for a in recent) and time.monotonic() - since >= STEADY_S:
            return
        time.sleep(0.2)


def wait_healthy(target: Target, deadline_s: float) -> float:
    """Seconds until the stack is healthy; raises TimeoutError naming what it still waited for."""
    start = time.monotonic()
    left: list[str] = ["nothing asked yet"]
    while time.monotonic() - start < deadline_s:
        left = status.problems(status.gather(target))
        if not left:
            return round(time.monotonic() - start, 2)
        time.sleep(0.5)
    raise TimeoutError(f"not healthy after {deadline_s:.0f}s: " + "; ".join(left))


def run_trial(target: Target, scenario: Scenario, number: int, ttl: int, lincheck_html: Path | None = None) -> Trial:
    """One trial. `lincheck_html`: where the checker draws the register history should it not be linearizable (the
    history is kept beside it); a file in the temporary directory by default."""
    members = patroni_api.cluster(target.patroni_apis)["members"]
    primary = next(m["name"] for m in members if m["role"] == "leader")
    run = f"{scenario.name}-{number}-{uuid.uuid4().hex[:6]}"
    by_address = _members_by_address(target, members)
    writer = probe.Probe(target, target.rw_endpoints, probe.writer(run), by_address)
    reader = probe.Probe(target, target.ro_endpoints, probe.read, by_address)
    workload = register.Workload(target, run)
    ctx = Context(target, primary, members, ttl)
    trial = Trial(scenario.name, number, old_primary=primary)
    linearizability.binary()  # before anything runs: CheckerMissing says to run make setup
    workload.start()
    writer.start()
    reader.start()
    try:
        time.sleep(BASELINE_S)
        trial.fault_at, trial.fault_wall = time.monotonic(), time.time()
        try:
            scenario.inject(ctx)
            # Steady counts from the fault in place: a host fault takes a moment to land (and waits for the Swarm's
            # view of it), and commits the old primary acknowledged meanwhile are no recovery.
            _wait_steady(writer, time.monotonic(), trial.fault_at + ttl + 30)
        finally:  # Ctrl-C, or a fault that failed half-way, too: a fault is never left in place
            scenario.heal(ctx)
        trial.converged_s = wait_healthy(target, CONVERGE_S)
        trial.recovered_wall = time.time()
    finally:
        writer.stop()
        reader.stop()
        workload.stop()
    if target.is_swarm:
        by_address.update(target.addresses("postgres"))  # the tasks Swarm started meanwhile
    writes, reads = _named(writer.attempts, by_address), _named(reader.attempts, by_address)
    _measure(target, trial, writes, reads, run, ctx.notes)
    html = lincheck_html or Path(tempfile.gettempdir()) / f"pgha-{target.stack}-{run}-lincheck.html"
    trial.consistency = consistency(workload, html)
    if target.prometheus_url:
        observe_alerts(target.prometheus_url, trial)
    return trial


def consistency(workload: register.Workload, html: Path) -> dict:
    """The register history's verdict (operations checked, linearizable: true, false or None when the checker ran
    out of time, its seconds) and what the read-only client saw (its reads and their staleness, in seconds)."""
    ops, reads = workload.history(), workload.ro_reads()
    verdict = linearizability.check(ops, html)
    p50, worst = linearizability.summary(linearizability.staleness(ops, reads))
    return {
        "operations": verdict.operations,
        "unknown": verdict.unknown,
        "failed": sum(1 for op in ops if op.outcome == register.FAILED),
        "linearizable": verdict.linearizable,
        "checker_s": verdict.seconds,
        "html": verdict.html,
        "history": verdict.history,
        "ro_reads": sum(1 for r in reads if r.outcome == register.OK),
        "ro_failed": sum(1 for r in reads if r.outcome != register.OK),
        "staleness_p50_s": p50,
        "staleness_max_s": worst,
    }


def _measure(target: Target, trial: Trial, writes, reads, run: str, notes: list) -> Trial:
    trial.notes = notes
    for key, measure, attempts in (
        ("rto_s", timeline.outage, writes),
        ("read_outage_s", timeline.longest_failure_window, reads),
    ):
        try:
            setattr(trial, key, measure(attempts, trial.fault_at))
        except ValueError as exc:
            trial.notes.append(f"{key}: {exc}")
    trial.write_gap_s = timeline.longest_gap(writes, trial.fault_at)
    acked = [a.seq for a in writes if a.ok]
    present = {m["name"]: rows_on(target, m["name"], run) for m in patroni_api.cluster(target.patroni_apis)["members"]}
    trial.lost_by_member = timeline.lost_acknowledged(acked, present)
    trial.lost_acked = len(set().union(*trial.lost_by_member.values())) if present else len(acked)
    trial.split_brain = timeline.split_brain(writes)
    trial.new_primary = patroni_api.leader(target.patroni_apis) or ""
    base = trial.fault_at
    trial.writes = [relative(a, base) for a in writes]
    trial.reads = [relative(a, base) for a in reads]
    return trial


def observe_alerts(prometheus_url: str, trial: Trial) -> None:
    """The alerts the stack's Prometheus raised around the fault, once they resolved (or the deadline passed)."""
    still = metrics.settle(prometheus_url, ALERTS_SETTLE_S)
    if still:
        trial.notes.append(f"still firing {ALERTS_SETTLE_S:.0f}s after the cluster was whole: {', '.join(still)}")
    spans = metrics.alerts_between(prometheus_url, trial.fault_wall - BASELINE_S, time.time())
    trial.alerts = [span.relative_to(trial.fault_wall) for span in spans]


def draw_panels(target: Target, prometheus_url: str, trial: Trial, path: Path) -> None:
    """The dashboard's panels from just before the fault to a little after the recovery, both marked."""
    dashboard.render(
        prometheus_url,
        trial.fault_wall - BASELINE_S - 5,
        time.time(),
        path,
        marks=[(trial.fault_wall, "fault"), (trial.recovered_wall, "whole again")],
        zero=trial.fault_wall,
        title=f"{target.stack}: {trial.scenario}, trial {trial.trial}",
    )
    trial.metrics_png = path.name


def applicable(target: Target, names: list[str]) -> list[str]:
    """The scenarios to run on the stack. One that cannot act on it (a host scenario on one engine, one that makes
    no sense on a Swarm) is refused before anything is done; when every scenario was asked for (`drill all`), those
    are left out instead, each with a line saying why."""
    refused = refusals(target, names)
    if refused and set(names) != set(SCENARIOS):
        raise Refused("\n".join(refused.values()))
    for why in refused.values():
        print(f"left out: {why}", flush=True)
    return [name for name in names if name not in refused]


def verdict_line(trial: Trial) -> str:
    """The register history's verdict in a few words: `linearizable yes (1843 ops, 0.03 s)`."""
    c = trial.consistency
    said = {True: "yes", False: "NO", None: "unknown (the checker ran out of time)"}[c["linearizable"]]
    drawn = f", drawn in {c['html']}" if c["html"] else ""
    return f"linearizable {said} ({c['operations']} ops, {c['checker_s']:.2f} s{drawn})"


def relative(attempt: timeline.Attempt, base: float) -> dict:
    """Attempt times relative to the fault, so a report reads in seconds from it."""
    data = attempt.as_dict()
    data["start"], data["end"] = round(attempt.start - base, 4), round(attempt.end - base, 4)
    return data


def run(
    target: Target,
    scenario_names: list[str],
    trials: int,
    report_dir: Path,
    recoveries: dict[str, list[dict]] | None = None,
    stop: threading.Event | None = None,
) -> Path:
    """Runs the failover scenarios; the report holds them and the `recoveries` run before (pgha/ops/backups/recovery.py)."""
    scenario_names = applicable(target, scenario_names)
    linearizability.binary()  # CheckerMissing, naming make setup, before anything runs
    probe.ensure_table(target)
    wait_healthy(target, CONVERGE_S)
    ttl = int(patroni_api.dynamic_config(target.patroni_apis)["ttl"])
    results: dict[str, list[dict]] = dict(recoveries or {})
    report_dir.mkdir(parents=True, exist_ok=True)
    stem = f"drill-{target.stack}-{time.strftime('%Y%m%d-%H%M%S')}"
    for name in scenario_names:
        for number in range(1, trials + 1):
            if stop is not None and stop.is_set():
                break
            trial = run_trial(
                target, SCENARIOS[name], number, ttl, report_dir / f"{stem}-{name}-{number}-lincheck.html"
            )
            if target.prometheus_url:
                draw_panels(target, target.prometheus_url, trial, report_dir / f"{stem}-{name}-{number}-metrics.png")
            print(
                f"{name} #{number}: rto {trial.rto_s}s, read outage {trial.read_outage_s}s, lost {trial.lost_acked}, "
                f"split brain {trial.split_brain}, {trial.old_primary} -> {trial.new_primary}; {verdict_line(trial)}",
                flush=True,
            )
            results.setdefault(name, []).append(trial.__dict__)
    path = report_dir / f"{stem}.json"
    path.write_text(json.dumps({"stack": target.stack, "ttl": ttl, "scenarios": results}, indent=1))
    return path
