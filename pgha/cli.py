"""pgha operations: `pgha {status,wait,switchover,drill,check,bench,backup,backups,drop-backups,
dashboard,metrics-cost,outputs} [--stack NAME | --target-file F]`, `pgha experiment NAME` and
`pgha swarm-lab [--down | --status]`. A stack that does not exist, is not deployed or is half-deployed, or a target
file that is not there, is said in one line on stderr, with what to run, and exit 2."""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import docker.errors

from pgha.actions import deploys
from pgha.clients import patroni_api
from pgha.clients import prometheus as metrics
from pgha.model import experiments, repository, stacks
from pgha.model.images import BASE_IMAGE
from pgha.model.settings import BACKUP_TYPES
from pgha.ops import dashboard, status, target
from pgha.ops.backups import backups, recovery
from pgha.ops.bench import bench, bench_report, metrics_cost
from pgha.ops.drills import drill, integrity, linearizability, report, soak
from pgha.ops.drills.faults import SCENARIOS, Refused
from pgha.ops.experiments import experiment
from pgha.ops.lab import swarm_lab


def _target(args: argparse.Namespace) -> target.Target:
    return target.from_file(args.target_file) if args.target_file else target.from_pulumi(args.stack)


def _stack(args: argparse.Namespace) -> str:
    """The stack's name, for the verbs that need no more of it: --stack's, or the target file's."""
    return target.from_file(args.target_file).stack if args.target_file else args.stack


def _no_repository(stack: str, what: str) -> str | None:
    """Why the backup verbs have nothing to act on: the stack has no repository on this engine (never deployed, or
    deployed with pgha:backups false), said in one line; None when it has one. A destroyed stack keeps it."""
    if repository.exists(stack):
        return None
    return (
        f"stack {stack!r} has no backup repository on this Docker engine (no volume {repository.volume_name(stack)}):"
        f" {what}"
    )


def cmd_status(args: argparse.Namespace) -> int:
    t = _target(args)
    current = status.with_alerts(status.gather(t), t)
    print(status.table(current))
    problems = status.problems(current)
    print("healthy" if not problems else "NOT healthy:\n  " + "\n  ".join(problems))
    return 0 if not problems else 1


def cmd_wait(args: argparse.Namespace) -> int:
    try:
        print(f"healthy after {drill.wait_healthy(_target(args), args.timeout)}s")
    except TimeoutError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def cmd_switchover(args: argparse.Namespace) -> int:
    t = _target(args)
    print(patroni_api.switchover(t.patroni_apis, t.api_password, args.to))
    return 0


def cmd_drill(args: argparse.Namespace) -> int:
    names = list(SCENARIOS) if args.scenario == "all" else args.scenario.split(",")
    unknown = [n for n in names if n not in SCENARIOS and n not in recovery.SCENARIOS]
    if unknown:
        print(
            f"unknown scenario {', '.join(unknown)}; known: all (the failover ones), {', '.join(SCENARIOS)}, "
            f"{', '.join(recovery.SCENARIOS)}",
            file=sys.stderr,
        )
        return 2
    try:
        if any(n in SCENARIOS for n in names):
            linearizability.binary()  # the failover trials' checker, before any drill runs
        recovered = recovery.run_trials(_target(args), [n for n in names if n in recovery.SCENARIOS], args.trials)
        # After the recoveries: lose-cluster deploys the stack anew.
        path = drill.run(
            _target(args), [n for n in names if n in SCENARIOS], args.trials, Path(args.reports), recovered
        )
    # Before anything ran: the scenario cannot act on this stack, or the checker is not built.
    except (Refused, linearizability.CheckerMissing) as exc:
        print(exc, file=sys.stderr)
        return 2
    except RuntimeError as exc:  # a fault that could not be injected (it says why; nothing was broken)
        print(f"pgha drill: {exc}", file=sys.stderr)
        return 1
    summary = report.write(path)
    print(summary.read_text().split("\n\n", 1)[1].split("\n![")[0])
    print(f"report: {path}\nsummary and plots: {summary}")
    return 0


def cmd_soak(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    path = soak.run(_target(args), args.duration, seed, args.max_faults, Path(args.reports))
    report = json.loads(path.read_text())
    print(soak.table(report))
    print(f"report: {path}")
    return 1 if soak.problems(report) else 0


def cmd_check(args: argparse.Namespace) -> int:
    try:
        findings = integrity.check(_target(args), args.timeout)
    except (TimeoutError, RuntimeError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(findings.table())
    problems = findings.problems()
    print("intact" if not problems else "NOT intact:\n  " + "\n  ".join(problems))
    return 0 if not problems else 1


def cmd_bench(args: argparse.Namespace) -> int:
    counts = [int(c) for c in args.clients.split(",")]
    path = bench.run(_target(args), counts, args.seconds, args.runs, args.storm, Path(args.reports), loops=args.loops)
    summary = bench_report.write(path)
    print(bench_report.tables(json.loads(path.read_text())))
    print(f"report: {path}\nsummary and plot: {summary}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    taken = backups.backup(_target(args).stack, args.type)
    print(
        f"{taken['label']}: {taken['type']} backup from the {'standby' if taken['from_standby'] else 'primary'}, "
        f"{taken['info']['repository']['delta'] / 2**20:.1f} MiB in {taken['timestamp']['stop'] - taken['timestamp']['start']}s"
    )
    return 0


def cmd_backups(args: argparse.Namespace) -> int:
    stack = _stack(args)
    try:
        # Asked first: reading a repository that is not there would make its volume, empty.
        missing = _no_repository(stack, f"nothing to list (make up STACK={stack} with pgha:backups true makes one)")
        if missing:
            print(f"pgha: {missing}", file=sys.stderr)
            return 2
        # A destroyed stack's repository is read with the key the stack set, else with this machine's.
        found = backups.listing(stack, deploys.backup_key(stack) or stacks.machine_backup_key())
    except (RuntimeError, docker.errors.DockerException) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(json.dumps(list(found.values()), indent=2) if args.json else backups.table(found))
    return 0


def cmd_drop_backups(args: argparse.Namespace) -> int:
    stack = _stack(args)
    try:
        missing = _no_repository(stack, "nothing to drop (dropped already, or never made)")
        if missing:
            print(f"pgha: {missing}", file=sys.stderr)
            return 2
        backups.drop(stack)
    except (RuntimeError, OSError, docker.errors.DockerException) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"dropped the repository of stack {stack}")
    return 0


def cmd_metrics_cost(args: argparse.Namespace) -> int:
    stack = _stack(args)
    target.from_pulumi(stack)  # a deployed stack, before any turn deploys it: not one made here by the way
    path = metrics_cost.run(stack, args.rounds, args.clients, args.seconds, Path(args.reports))
    print(json.dumps(json.loads(path.read_text())["summary"], indent=1) + f"\nreport: {path}")
    return 0


def cmd_outputs(args: argparse.Namespace) -> int:
    """`make outputs`: the deployed stack's outputs as `pulumi stack output --json --show-secrets` prints them."""
    print(json.dumps(target.outputs(_stack(args)), indent=2))
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    try:
        seconds = dashboard.since_seconds(args.since)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    t = _target(args)
    if t.prometheus_url is None:
        print(f"stack {t.stack} collects no metrics (pgha:metrics false): no Prometheus to draw from", file=sys.stderr)
        return 1
    path = Path(args.reports) / f"dashboard-{t.stack}-{time.strftime('%Y%m%d-%H%M%S')}.png"
    end = time.time()
    try:
        dashboard.render(t.prometheus_url, end - seconds, end, path, title=f"stack {t.stack}: the last {args.since}")
    except metrics.PrometheusError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(path)
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    path = Path(args.name) if args.name.endswith((".yaml", ".yml")) else experiments.path_of(args.name)
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in experiments.EXPERIMENTS_DIR.glob("*.yaml")))
        print(f"no experiment {args.name!r}: expected a file or one of {known}", file=sys.stderr)
        return 2
    try:
        exp = experiments.load(path, [*SCENARIOS, *recovery.SCENARIOS], bench.WORKLOADS)
    except experiments.ExperimentError as exc:
        print(f"{path}:\n  " + "\n  ".join(exc.problems), file=sys.stderr)
        return 2
    options = experiment.Options(args.trials, args.parallel, args.keep, args.restart)
    try:
        summary = experiment.run(exp, options, Path(args.reports))
    except KeyboardInterrupt:
        return 130
    print(summary.read_text().split("\n\nVariants:")[0] + f"\n\nreport: {summary}")
    return 0


def cmd_swarm_lab(args: argparse.Namespace) -> int:
    try:
        if args.down:
            swarm_lab.down(args.name)
            print(f"no lab {args.name} left on this host")
            return 0
        if args.status:
            current = swarm_lab.status(args.name)
            lab = swarm_lab.found_lab(current)
            if lab is None and not current.exists:
                print(f"no lab {args.name} on this host")
                return 1
            print(swarm_lab.table(current))
            found = swarm_lab.problems(current, lab) if lab else ["too little of it is left to tell its shape"]
            print("healthy" if not found else "NOT healthy:\n  " + "\n  ".join(found))
            return 0 if not found else 1
        lab = swarm_lab.up(args.name, args.nodes, args.port, [BASE_IMAGE, *args.image])
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (RuntimeError, TimeoutError, docker.errors.DockerException) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(swarm_lab.summary(lab))
    return 0


def parser() -> argparse.ArgumentParser:
    """The `pgha` command line: every verb and its options."""
    parser = argparse.ArgumentParser(prog="pgha", description=__doc__)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stack", default="dev", help="a deployed Pulumi stack (default: dev)")
    where.add_argument("--target-file", type=Path, help="JSON with the stack's outputs (`make outputs`) and `stack`")
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("status", help="one table of the stack's health; exit 1 when not healthy")
    wait = verbs.add_parser("wait", help="until healthy or the deadline, saying what it still waits for")
    wait.add_argument("--timeout", type=float, default=120.0)
    switch = verbs.add_parser("switchover", help="a planned switchover through Patroni")
    switch.add_argument("--to", help="the member to promote (default: Patroni picks)")
    run = verbs.add_parser("drill", help="run a failure scenario N times and write a report")
    run.add_argument(
        "scenario",
        help=f"all (the failover scenarios), or a comma-separated list of: "
        f"{', '.join([*SCENARIOS, *recovery.SCENARIOS])}",
    )
    run.add_argument("--trials", type=int, default=3)
    run.add_argument("--reports", default="reports")
    chaos = verbs.add_parser(
        "soak", help="random faults one after another, the cluster whole between them, for a time; one report"
    )
    chaos.add_argument("--duration", type=soak.seconds, default="30m", help="how long: 90s, 30m, 2h (default 30m)")
    chaos.add_argument("--seed", type=int, help="the faults' random sequence (default: drawn, and printed)")
    chaos.add_argument("--max-faults", type=int, default=soak.MAX_FAULTS, help="at most this many faults")
    chaos.add_argument("--reports", default="reports")
    check = verbs.add_parser(
        "check", help="data checksums, pg_amcheck and the drill table on every member; exit 1 when anything is wrong"
    )
    check.add_argument("--timeout", type=float, default=60.0, help="seconds the replicas get to catch up first")
    measure = verbs.add_parser("bench", help="pgbench along every path into the stack, and a connection storm")
    measure.add_argument("--clients", default="1,4,16,64", help="comma-separated pgbench client counts")
    measure.add_argument("--seconds", type=int, default=10, help="each pgbench run's duration")
    measure.add_argument("--runs", type=int, default=2, help="times every cell is run, interleaved")
    measure.add_argument("--storm", type=int, default=1000, help="clients connecting at once (0: no storm)")
    measure.add_argument(
        "--loops",
        type=int,
        default=3,
        help="timed rounds of up, preview, destroy on throwaway stacks of the default shape (0: none)",
    )
    measure.add_argument("--reports", default="reports")
    take = verbs.add_parser("backup", help="a pgBackRest backup of the stack, on its leader")
    take.add_argument("--type", choices=BACKUP_TYPES, default="incr")
    listed = verbs.add_parser("backups", help="the stack's backups and archived WAL (also once the stack is destroyed)")
    listed.add_argument("--json", action="store_true", help="pgBackRest's own JSON")
    verbs.add_parser("drop-backups", help="remove a destroyed stack's repository: its backups are gone for good")
    cost = verbs.add_parser(
        "metrics-cost",
        help="pgbench with pgha:metrics on and off, turn by turn, and the "
        "collectors' CPU (deploys the stack each turn, then as its configuration says)",
    )
    cost.add_argument("--rounds", type=int, default=3, help="pairs of turns, metrics on then off")
    cost.add_argument("--clients", type=int, default=16)
    cost.add_argument("--seconds", type=int, default=30, help="each pgbench run's duration")
    cost.add_argument("--reports", default="reports")
    verbs.add_parser("outputs", help="the deployed stack's outputs as JSON, secrets shown (`make outputs`)")
    board = verbs.add_parser("dashboard", help="a PNG of the standard Prometheus panels over the last minutes")
    board.add_argument("--since", default="10m", help="the window, ending now: 90s, 10m, 2h")
    board.add_argument("--reports", default="reports")
    exp = verbs.add_parser(
        "experiment",
        help="every variant of an experiment file as its own stack: up, drills, "
        "bench, destroy; then one comparison report (an interrupted run resumes)",
    )
    exp.add_argument("name", help="an experiment under experiments/ (sync-modes, ...) or a path to a YAML file")
    exp.add_argument("--trials", type=int, help="trials per drill scenario (default: the file's)")
    exp.add_argument(
        "--parallel",
        type=int,
        default=1,
        help=f"variants side by side, each on its own ports (at most {experiment.MAX_PARALLEL})",
    )
    exp.add_argument("--keep", action="store_true", help="leave each variant's stack deployed")
    exp.add_argument("--restart", action="store_true", help="start over instead of resuming an interrupted run")
    exp.add_argument("--reports", default="reports")
    lab = verbs.add_parser(
        "swarm-lab",
        help="a Docker Swarm of N engines in containers on this machine (1 manager, the rest workers), "
        "with the base image on every node; a healthy lab is left as it is",
    )
    lab.add_argument("--name", default=swarm_lab.DEFAULT_NAME, help="the lab's name (default: %(default)s)")
    lab.add_argument("--nodes", type=int, default=3, help=f"engines, 1 to {swarm_lab.MAX_NODES} (default: %(default)s)")
    lab.add_argument(
        "--port",
        type=int,
        default=swarm_lab.DEFAULT_API_PORT,
        help="the host port, on 127.0.0.1, of the manager's API (default: %(default)s)",
    )
    lab.add_argument(
        "--image", action="append", default=[], help="another image of this host's engine to load into every node"
    )
    lab_action = lab.add_mutually_exclusive_group()
    lab_action.add_argument("--down", action="store_true", help="remove the lab: its containers, volumes and network")
    lab_action.add_argument(
        "--status", action="store_true", help="its nodes as the manager sees them; exit 1 when not healthy"
    )
    return parser


HANDLERS = {
    "status": cmd_status,
    "wait": cmd_wait,
    "switchover": cmd_switchover,
    "drill": cmd_drill,
    "soak": cmd_soak,
    "check": cmd_check,
    "bench": cmd_bench,
    "backup": cmd_backup,
    "backups": cmd_backups,
    "drop-backups": cmd_drop_backups,
    "dashboard": cmd_dashboard,
    "metrics-cost": cmd_metrics_cost,
    "outputs": cmd_outputs,
    "experiment": cmd_experiment,
    "swarm-lab": cmd_swarm_lab,
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return HANDLERS[args.verb](args)
    except target.NoTarget as exc:  # no stack, or no target file, to act on: one line, no traceback
        print(f"pgha: {exc}", file=sys.stderr)
        return 2
