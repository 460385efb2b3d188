"""pgha backup scheduler: takes the stack's backups when they are due, judged by the repository itself.

The schedule is an interval per backup type (`--full 7d --diff 1d --incr 1h`; a type left out is never taken).
A type is due when the newest backup that covers it (a full covers a diff and an incr, a diff an incr) ended
longer ago than its interval; the largest type due is taken. Nothing is kept here: a restart of this container,
or a failover of the cluster, changes no decision. Nothing is taken before the stanza's first backup, which
`pulumi up` takes (components/pgbackrest.py). Standard library only; runs as PID 1 of the repository host.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time

TYPES = ("full", "diff", "incr")
COVERS = {"full": ("full",), "diff": ("full", "diff"), "incr": ("full", "diff", "incr")}
UNITS = {"m": 60, "h": 3600, "d": 86400}


INFO_TIMEOUT_S = 120
# A hung backup must not stop the schedule: one that runs longer than this is ended (pgBackRest resumes it next time).
BACKUP_TIMEOUT_S = 6 * 3600


def interval(text: str) -> int:
    """`30m`, `12h`, `7d` in seconds."""
    found = re.fullmatch(r"([1-9][0-9]*)([mhd])", text.strip())
    if not found:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number and m, h or d, e.g. 12h")
    return int(found.group(1)) * UNITS[found.group(2)]


def due(backups: list[dict], every: dict[str, int], now: float) -> str | None:
    """The largest backup type due, or None; None too while the stanza has no backup at all."""
    if not backups:
        return None
    for kind in TYPES:
        if kind not in every:
            continue
        last = max((b["timestamp"]["stop"] for b in backups if b["type"] in COVERS[kind]), default=0)
        if now - last >= every[kind]:
            return kind
    return None


def pgbackrest(stanza: str, *args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(["pgbackrest", f"--stanza={stanza}", *args], capture_output=True, text=True, timeout=timeout)


def backups(stanza: str) -> list[dict]:
    done = pgbackrest(stanza, "--output=json", "info", timeout=INFO_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError((done.stderr or done.stdout).strip())
    found = json.loads(done.stdout)
    return found[0].get("backup", []) if found else []


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", flush=True)


def tick(stanza: str, every: dict[str, int]) -> None:
    kind = due(backups(stanza), every, time.time())
    if kind is None:
        return
    log(f"{kind} backup due; taking it")
    try:
        done = pgbackrest(stanza, f"--type={kind}", "backup", timeout=BACKUP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log(f"{kind} backup failed: not done after {BACKUP_TIMEOUT_S}s; ended, the next tick tries again")
        return
    lines = (done.stderr or done.stdout).strip().splitlines()
    log(
        f"{kind} backup done"
        if done.returncode == 0
        else f"{kind} backup failed: {lines[-1] if lines else done.returncode}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pgha-backup-scheduler", description=__doc__)
    parser.add_argument("--stanza", required=True)
    for kind in TYPES:
        parser.add_argument(f"--{kind}", type=interval, help=f"take a {kind} backup this often")
    parser.add_argument("--poll", type=float, default=60.0, help="seconds between two looks at the repository")
    args = parser.parse_args(argv)
    every = {kind: getattr(args, kind) for kind in TYPES if getattr(args, kind)}
    log(f"schedule for {args.stanza}: " + (", ".join(f"{k} every {v}s" for k, v in every.items()) or "none"))
    while True:
        try:
            tick(args.stanza, every)
        except (RuntimeError, ValueError, OSError, subprocess.SubprocessError) as exc:
            log(f"could not read the repository: {str(exc).splitlines()[-1] if str(exc) else exc}")
        time.sleep(args.poll)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
