"""A bounded chaos soak: random faults from the scenarios the stack can run, one after another, the cluster whole
again between them, each measured as a drill's trial (its writer and reader through the stack's endpoints); one
report at the end. Seeded: the same seed gives the same sequence. Bounded in time and in faults; Ctrl-C ends it after
the fault in flight is healed (drill.run_trial heals in any case), the cluster left whole."""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pgha.clients import patroni_api
from pgha.ops.drills import drill, probe
from pgha.ops.drills.faults import SCENARIOS
from pgha.ops.target import Target

MAX_FAULTS = 500  # a bound whatever the duration: each fault takes seconds to minutes
DURATION = re.compile(r"^([1-9][0-9]*)([smh])$")


def seconds(text: str) -> int:
    """`90s`, `30m`, `2h` -> seconds; ValueError otherwise."""
    found = DURATION.match(text.strip())
    if not found:
        raise ValueError(f"a duration such as 90s, 30m or 2h, not {text!r}")
    return int(found[1]) * {"s": 1, "m": 60, "h": 3600}[found[2]]


def sequence(seed: int, scenarios: list[str], count: int) -> list[str]:
    """The faults a soak with this seed runs, in order (it stops earlier when its time is up)."""
    pick = random.Random(seed)
    return [pick.choice(scenarios) for _ in range(count)]


@dataclass
class Soak:
    stack: str
    seed: int
    duration_s: int
    scenarios: list[str]
    trials: list[dict] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # faults that could not be run to the end, each with why
    interrupted: bool = False
    stopped: str = ""  # why the soak ended before its time: the cluster did not come back whole
    elapsed_s: float = 0.0

    def summary(self) -> dict:
        """What the soak found: faults run, register operations checked and the trials whose history was not found
        linearizable, acknowledged commits lost, split brains, the worst write gap."""
        gaps = [(t["write_gap_s"], f"{t['scenario']} #{t['trial']}") for t in self.trials if t["write_gap_s"]]
        worst = max(gaps, default=(None, ""))
        checked = [t.get("consistency") or {} for t in self.trials]
        return {
            "faults": len(self.trials),
            "by_scenario": dict(Counter(t["scenario"] for t in self.trials)),
            "operations_checked": sum(c.get("operations", 0) for c in checked),
            "checker_s": round(sum(c.get("checker_s", 0.0) for c in checked), 2),
            "not_linearizable": [
                f"{t['scenario']} #{t['trial']}"
                for t, c in zip(self.trials, checked, strict=True)
                if c.get("linearizable") is not True
            ],
            "lost_acked": sum(t["lost_acked"] for t in self.trials),
            "split_brains": sum(1 for t in self.trials if t["split_brain"]),
            "worst_write_gap_s": worst[0],
            "worst_write_gap_in": worst[1],
            "not_recovered": [f"{t['scenario']} #{t['trial']}" for t in self.trials if t["rto_s"] is None],
            "failed": self.failed,
        }


def _brief(trial: dict) -> dict:
    """A trial as the soak keeps it: its figures, not every probe attempt."""
    keep = ("scenario", "trial", "rto_s", "write_gap_s", "read_outage_s", "lost_acked", "split_brain", "notes")
    verdict = {k: v for k, v in trial["consistency"].items() if k != "history"}
    return {k: trial[k] for k in keep} | {
        "primaries": f"{trial['old_primary']} -> {trial['new_primary']}",
        "consistency": verdict,
    }


def run(target: Target, duration_s: int, seed: int, max_faults: int, report_dir: Path) -> Path:
    """Faults until `duration_s` is spent (a fault is not started with less than its usual length left) or
    `max_faults` ran; writes the report and returns its path, Ctrl-C included."""
    names = drill.applicable(target, list(SCENARIOS))
    soak = Soak(target.stack, seed, duration_s, names)
    print(f"soak of stack {target.stack}: seed {seed}, {duration_s}s, at most {max_faults} faults", flush=True)
    probe.ensure_table(target)
    drill.wait_healthy(target, drill.CONVERGE_S)
    ttl = int(patroni_api.dynamic_config(target.patroni_apis)["ttl"])
    start = time.monotonic()
    try:
        for number, name in enumerate(sequence(seed, names, min(max_faults, MAX_FAULTS)), 1):
            if time.monotonic() - start > duration_s:
                break
            html = report_dir / f"soak-{target.stack}-{seed}-{number}-lincheck.html"
            try:
                found = drill.run_trial(target, SCENARIOS[name], number, ttl, html)
            except Exception as exc:  # noqa: BLE001 - a fault that fails is a finding of the soak, not its end
                soak.failed.append(f"{name} #{number}: {exc.__class__.__name__}: {exc}"[:300])
                print(f"{number} {name}: FAILED: {soak.failed[-1]}", flush=True)
                drill.wait_healthy(target, drill.CONVERGE_S)  # healed by run_trial; whole again before the next
                continue
            trial = found.__dict__
            soak.trials.append(_brief(trial))
            print(
                f"{number} {name}: write gap {trial['write_gap_s']}s, lost {trial['lost_acked']}, "
                f"split brain {trial['split_brain']}, {drill.verdict_line(found)}",
                flush=True,
            )
    except KeyboardInterrupt:
        soak.interrupted = True
        print("interrupted: the fault in flight was healed; waiting for the cluster to be whole", flush=True)
        drill.wait_healthy(target, drill.CONVERGE_S)
    except TimeoutError as exc:  # drill.wait_healthy: the cluster did not come back whole after a failed fault
        soak.stopped = str(exc)
        print(f"stopped: {exc}", flush=True)
    soak.elapsed_s = round(time.monotonic() - start, 1)
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / f"soak-{target.stack}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(soak.__dict__ | {"summary": soak.summary()}, indent=1))
    return path


def problems(report: dict) -> list[str]:
    """What the soak found wrong, a line each; empty when it found nothing."""
    found = report["summary"]
    lines = [f"not linearizable: {', '.join(found['not_linearizable'])}"] if found["not_linearizable"] else []
    lines += [f"acknowledged commits lost: {found['lost_acked']}"] if found["lost_acked"] else []
    lines += [f"split brains: {found['split_brains']}"] if found["split_brains"] else []
    lines += [f"writes never back: {', '.join(found['not_recovered'])}"] if found["not_recovered"] else []
    lines += [f"fault failed: {failure}" for failure in found["failed"]]
    return lines + ([f"stopped early: {report['stopped']}"] if report.get("stopped") else [])


def table(report: dict) -> str:
    """The report's summary, one figure a line."""
    found = report["summary"]
    lines = [
        f"seed {report['seed']}, {report['elapsed_s']}s of {report['duration_s']}s"
        + (" (interrupted)" if report["interrupted"] else ""),
        f"faults run: {found['faults']} ({', '.join(f'{k} {v}' for k, v in sorted(found['by_scenario'].items()))})",
        f"register operations checked: {found['operations_checked']} in {found['checker_s']}s; not linearizable: "
        + (", ".join(found["not_linearizable"]) or "none"),
        f"acknowledged commits lost: {found['lost_acked']}",
        f"split brains: {found['split_brains']}",
        f"worst write gap: {found['worst_write_gap_s']}s ({found['worst_write_gap_in'] or '-'})",
        f"writes never back: {', '.join(found['not_recovered']) or 'none'}",
        f"faults that failed: {'; '.join(found['failed']) or 'none'}",
    ] + ([f"stopped early: {report['stopped']}"] if report.get("stopped") else [])
    return "\n".join(lines)
