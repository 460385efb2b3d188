"""The register workload's history (register.py) judged by tools/lincheck, porcupine's linearizability checker, and
the read-only client's reads measured for staleness.

The checker is a Go program that setup builds; PGHA_LINCHECK (scripts/env.sh) names it. It reads the history as JSON
and prints one line: linearizable true, false or "unknown" (its time limit ran out), the operations it checked and its
seconds. For a history that is not linearizable it writes porcupine's HTML visualization, and the history is kept
beside it, so that the verdict can be had again: `$PGHA_LINCHECK -html again.html <history.json>`.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import statistics
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pgha.ops.drills.register import FAILED, INITIAL, MISSING, OK, Op

TIMEOUT_S = 60.0  # porcupine's own limit; past it the verdict is "unknown"
ENV = "PGHA_LINCHECK"


class CheckerMissing(RuntimeError):
    """The checker binary is not built, or not named: one line saying what to run."""


@dataclass(frozen=True)
class Verdict:
    linearizable: bool | None  # None: the checker ran out of time
    operations: int  # given to porcupine
    unknown: int  # of them, of unknown outcome
    left_out: int  # failed operations, and reads of unknown outcome
    seconds: float
    html: str = ""  # porcupine's visualization, for a history that is not linearizable
    history: str = ""  # the history it judged, kept beside the visualization


def binary() -> Path:
    """The checker, or CheckerMissing naming `make setup`."""
    named = os.environ.get(ENV)
    if not named:
        raise CheckerMissing(f"{ENV} is not set: run make setup, then . scripts/env.sh (or run pgha through make)")
    path = Path(named)
    if not os.access(path, os.X_OK):
        raise CheckerMissing(f"the linearizability checker {path} is not built: run make setup")
    return path


def history_document(ops: Sequence[Op], initial: int = INITIAL) -> dict:
    return {"initial": initial, "operations": [op.as_record() for op in ops]}


def check(ops: Sequence[Op], html: Path, timeout_s: float = TIMEOUT_S, initial: int = INITIAL) -> Verdict:
    """Runs the checker on the history. When it is not linearizable (or the checker ran out of time) the history
    stays beside `html` as <html stem>.json; porcupine's visualization goes to `html` for a failure."""
    checker = binary()
    kept = html.with_suffix(".json")
    with tempfile.TemporaryDirectory(prefix="pgha-lincheck-") as scratch:
        path = Path(scratch) / "history.json"
        path.write_text(json.dumps(history_document(ops, initial)))
        done = subprocess.run(
            [str(checker), "-timeout", f"{timeout_s:g}s", "-html", str(html), str(path)],
            capture_output=True,
            text=True,
            timeout=2 * timeout_s + 30,  # the failing pass, then the verbose one for the visualization
        )
        if done.returncode not in (0, 1, 3):
            raise RuntimeError(f"{checker} failed (exit {done.returncode}): {done.stderr.strip()[:300]}")
        line = json.loads(done.stdout.strip().splitlines()[-1])
        if line["linearizable"] is not True:
            html.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(path.read_text())
    linearizable = line["linearizable"] if isinstance(line["linearizable"], bool) else None
    return Verdict(
        linearizable,
        int(line["operations"]),
        int(line["unknown"]),
        int(line["left_out"]),
        float(line["seconds"]),
        html=str(html) if linearizable is False and html.exists() else "",
        history=str(kept) if linearizable is not True else "",
    )


def staleness(ops: Sequence[Op], reads: Sequence[Op]) -> list[float]:
    """Seconds by which each answered read lagged: from the moment the value it returned was known overwritten (an
    acknowledged write to the key begun after the write of that value had returned) to the read's start; 0 when it
    was not by then. The initial value (or no row yet) is overwritten by the first acknowledged write. A value that no
    operation wrote is left out here: the checker judges the read-write path, this one is only measured."""
    by_value = {_written(op): op for op in ops if _written(op) is not None and op.outcome != FAILED}
    # Per key, the acknowledged writes by call time, and from each on the earliest acknowledgement.
    calls: dict[str, list[int]] = {}
    earliest: dict[str, list[int]] = {}
    for key in {op.key for op in ops}:
        acked = sorted(
            (op.call, op.ret)
            for op in ops
            if op.key == key and op.outcome == OK and op.ret is not None and _written(op) is not None
        )
        calls[key] = [call for call, _ in acked]
        earliest[key] = list(itertools.accumulate(reversed([ret for _, ret in acked]), min))[::-1]
    lags = []
    for read in reads:
        if read.outcome != OK or read.value is None:
            continue
        if read.value in (INITIAL, MISSING):
            since = -1  # before any write
        elif read.value in by_value and by_value[read.value].key == read.key:
            written = by_value[read.value]
            since = written.ret if written.ret is not None else written.call
        else:
            continue
        # A write begun after `since` is not the one of this value: values are written once.
        first = bisect.bisect_right(calls.get(read.key, []), since)
        overwritten = earliest[read.key][first] if first < len(calls.get(read.key, [])) else None
        lags.append(max(0.0, (read.call - overwritten) / 1e9) if overwritten is not None else 0.0)
    return lags


def _written(op: Op) -> int | None:
    """The value an operation puts in its key, if it does: a write's, a cas's that swapped or may have."""
    if op.kind == "write":
        return op.value
    if op.kind == "cas" and (op.swapped or op.outcome != OK):
        return op.new
    return None


def summary(lags: list[float]) -> tuple[float | None, float | None]:
    """p50 and max, in seconds; None without reads."""
    return (round(statistics.median(lags), 4), round(max(lags), 4)) if lags else (None, None)
