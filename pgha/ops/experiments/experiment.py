"""`pgha experiment NAME`: every variant of an experiment file (pgha/model/experiments.py) becomes its own stack
through Pulumi's Automation API, is brought up, waited for, drilled and benchmarked with the drill and bench code,
and destroyed, also on a failure or Ctrl-C; then one comparison report (pgha/ops/experiments/experiment_report.py).

The stacks live in a workspace of this machine's, PGHA_HOME/experiments/NAME/: a Pulumi.yaml whose program is this
checkout, each variant's stack file (so nothing is written into the checkout), and progress.json, from which an
interrupted experiment resumes with the variants it had not finished.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import docker
from pulumi import automation as auto

from pgha.clients import docker_api
from pgha.model import repository, settings, stacks
from pgha.model.experiments import Experiment, Variant
from pgha.ops import target
from pgha.ops.backups import backups
from pgha.ops.bench import bench
from pgha.ops.drills import drill, report
from pgha.ops.experiments import experiment_report

# Experiment stacks publish away from the ready-made stacks' ports (dev's 5000, the tests' 15432), and with
# --parallel each slot another 100 further on (an HAProxy instance takes +10 per instance within it).
PORT_OFFSET = 20000
SLOT_STEP = 100
MAX_PARALLEL = 4
BENCH_CLIENTS = 16
BENCH_SECONDS = 30
BENCH_RUNS = 3  # runs per workload: their spread is the noise a difference must exceed
BENCH_WARMUP_S = 15
LOCK_WAIT_S = 300.0  # an interrupted `up` may hold the stack's lock while it winds down


@dataclass(frozen=True)
class Options:
    trials: int | None = None  # overrides the file's
    parallel: int = 1
    keep: bool = False
    restart: bool = False


def home(name: str) -> Path:
    return Path(os.environ["PGHA_HOME"]) / "experiments" / name


def stack_config(variant: Variant, slot: int) -> dict[str, str]:
    """The variant's settings as `pgha:` config, each published port moved to the slot's range."""
    defaults = {o.key: o.default for o in settings.OPTIONS}
    ports = {}
    for key in settings.PORT_KEYS:
        given = variant.settings.get(key)
        base = int(given) if given is not None else int(str(defaults[key])) + PORT_OFFSET
        ports[key] = str(base + SLOT_STEP * slot)
    return {f"{settings.NAMESPACE}:{k}": v for k, v in (variant.settings | ports).items()}


def fingerprint(exp: Experiment, trials: int) -> str:
    """What makes two runs the same experiment: resuming mixes results only between runs of one fingerprint."""
    doc = {"variants": [asdict(v) for v in exp.variants], "drills": exp.drills, "trials": trials, "bench": exp.bench}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def workspace(name: str) -> auto.LocalWorkspace:
    where = home(name)
    where.mkdir(parents=True, exist_ok=True)
    runtime = auto.ProjectRuntimeInfo(
        name="python", options={"toolchain": "pip", "virtualenv": str(stacks.ROOT / "venv")}
    )
    project = auto.ProjectSettings(name="pgha", runtime=runtime, main=str(stacks.ROOT))
    return auto.LocalWorkspace(work_dir=str(where), project_settings=project)


class Progress:
    """One line per step: when, which variant, which step, how long it took."""

    def __init__(self, total: int):
        self.total = total
        self.lock = threading.Lock()

    def say(self, index: int, variant: str, text: str) -> None:
        with self.lock:
            print(f"{time.strftime('%H:%M:%S')} [{index}/{self.total} {variant}] {text}", flush=True)

    @contextmanager
    def step(self, index: int, variant: str, what: str, walls: dict[str, float]) -> Iterator[None]:
        self.say(index, variant, f"{what} ...")
        start = time.monotonic()
        outcome = "failed after "
        try:
            yield
            outcome = ""
        finally:
            walls[what] = round(time.monotonic() - start, 1)
            self.say(index, variant, f"{what}: {outcome}{walls[what]} s")


def _locked_retry(action: Callable[[], object]) -> None:
    """Runs a Pulumi verb, waiting out the lock an interrupted verb still holds."""
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            action()
            return
        except auto.ConcurrentUpdateError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def _drop_repository(stack: str) -> None:
    """An experiment's stacks are throwaway: their backups go with them (kept, the next run of the same variant
    would start a second cluster in the repository, pgha.model.repository.new_cluster)."""
    try:
        docker_api.client().volumes.get(repository.volume_name(stack))
    except docker.errors.NotFound:
        return
    backups.drop(stack)


def teardown(ws: auto.LocalWorkspace, name: str, log: Callable[[str], None]) -> None:
    """Destroys the stack (what an interrupted `up` left pending too), forgets it and drops its backups."""
    if name in {s.name for s in ws.list_stacks()}:
        stack = auto.Stack.select(name, ws)
        try:
            _locked_retry(lambda: stack.destroy(on_output=log, color="never"))
        except auto.CommandError:
            # An `up` cut short leaves pending creates in the state; what exists of them is destroyed after this.
            _locked_retry(lambda: stack.refresh(on_output=log, color="never", clear_pending_creates=True))
            _locked_retry(lambda: stack.destroy(on_output=log, color="never"))
        ws.remove_stack(name)
    _drop_repository(name)


def configure(stack: auto.Stack, config: dict[str, str]) -> None:
    """Plain settings through the Automation API; the program takes the backup key and the rest as for any stack."""
    stack.set_all_config({k: auto.ConfigValue(v) for k, v in config.items()})


def drill_figures(drill_report: dict) -> dict[str, list[dict]]:
    """Per scenario, each trial's figures the drill report gives (its probes' attempts left in the report), and its
    register history's verdict (true, false, None: undecided) where the trial had one."""
    keep = ("rto_s", "read_outage_s", "write_gap_s", "lost_acked", "split_brain", "old_primary", "new_primary")
    return {
        name: [
            {k: t.get(k) for k in keep}
            | {"two_primary_alerts": sum(1 for a in t.get("alerts", []) if a["alert"] == report.SPLIT_BRAIN_ALERT)}
            | ({"linearizable": t["consistency"]["linearizable"]} if t.get("consistency") else {})
            for t in trials
        ]
        for name, trials in drill_report["scenarios"].items()
    }


def bench_figures(
    t: target.Target, workloads: list[str], say: Callable[[str], None], stop: threading.Event
) -> dict[str, list[dict]]:
    """Each workload BENCH_RUNS times, after a warm-up run, through the read-write port (HAProxy, then PgBouncer),
    as a client on this host reaches it: TPS and latency per run."""
    rw = bench.host_rw(t)
    runs: dict[str, list[dict]] = {}
    lifetime = len(workloads) * (BENCH_RUNS + 1) * (BENCH_SECONDS + bench.SLACK_S) + 900
    with bench.client_containers(t, lifetime) as clients:
        bench.initialise(clients["net"], t, bench.SCALE)
        for workload in workloads:  # not counted: the first run after loading the tables was the slowest by a fifth
            bench.measure(clients["host"], rw, workload, BENCH_CLIENTS, BENCH_WARMUP_S, t)
        for number in range(1, BENCH_RUNS + 1):
            if stop.is_set():
                break
            for workload in workloads:  # interleaved, so that a slow minute of the host hits every workload
                figures = bench.measure(clients["host"], rw, workload, BENCH_CLIENTS, BENCH_SECONDS, t)
                runs.setdefault(workload, []).append(figures)
                say(
                    f"bench {workload} run {number}: "
                    + (figures.get("error") or f"{figures['tps']:.0f} tps, p99 {figures['p99_ms']} ms")
                )
    return runs


@dataclass
class Run:
    """One experiment's run: the settings its variants share and what each finished variant gave."""

    exp: Experiment
    trials: int
    options: Options
    report_dir: Path
    progress: Progress
    ws: auto.LocalWorkspace
    stop: threading.Event


def run_variant(run: Run, index: int, variant: Variant, slot: int) -> dict | None:
    """The variant's figures; None when the run was stopped before it finished (it is not done then)."""
    name = variant.stack(run.exp.name)
    out = run.report_dir / variant.name
    out.mkdir(parents=True, exist_ok=True)
    config = stack_config(variant, slot)
    walls: dict[str, float] = {}
    result: dict = {"variant": variant.name, "stack": name, "settings": config, "wall_s": walls}
    step = functools.partial(run.progress.step, index, variant.name, walls=walls)
    with (out / "pulumi.log").open("a") as log_file:

        def log(line: str) -> None:  # the API strips each line
            log_file.write(line + "\n")

        with step("clean slate"):  # what an interrupted run of this variant left
            teardown(run.ws, name, log)
        try:
            stack = auto.Stack.create(name, run.ws)
            configure(stack, config)
            with step("up"):
                stack.up(on_output=log, color="never")
            t = target.from_outputs(name, {k: v.value for k, v in stack.outputs().items()})
            with step("healthy"):
                drill.wait_healthy(t, drill.CONVERGE_S)
            if run.exp.drills and not run.stop.is_set():
                with step("drills"):
                    result["drills"] = _drills(t, run, out)
            if run.exp.bench and not run.stop.is_set():
                with step("bench"):
                    say = functools.partial(run.progress.say, index, variant.name)
                    result["bench"] = bench_figures(t, run.exp.bench, say, run.stop)
        finally:
            if not run.options.keep:
                with step("destroy"):
                    teardown(run.ws, name, log)
    return None if run.stop.is_set() else result


def _drills(t: target.Target, run: Run, out: Path) -> dict:
    path = drill.run(t, run.exp.drills, run.trials, out, stop=run.stop)
    report.write(path)
    return drill_figures(json.loads(path.read_text())) | {"report": str(path.relative_to(run.report_dir))}


def progress_file(exp: Experiment) -> Path:
    return home(exp.name) / "progress.json"


def resume_or_start(exp: Experiment, trials: int, options: Options, reports: Path) -> dict:
    """The progress of an interrupted run of the same experiment, or a new one."""
    state_file, mark = progress_file(exp), fingerprint(exp, trials)
    if state_file.exists() and not options.restart:
        state = json.loads(state_file.read_text())
        if state["fingerprint"] == mark:
            print(
                f"resuming {exp.name}: {len(state['done'])} of {len(exp.variants)} variants done "
                f"({', '.join(state['done']) or 'none'}), report in {state['report_dir']}",
                flush=True,
            )
            return state
        print(f"an earlier run of {exp.name} had other variants or workload: starting over", flush=True)
    report_dir = reports / f"experiment-{exp.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return {"fingerprint": mark, "report_dir": str(report_dir), "started": time.time(), "done": {}}


def save_progress(exp: Experiment, state: dict) -> None:
    progress_file(exp).write_text(json.dumps(state, indent=1))


def run(exp: Experiment, options: Options, reports: Path) -> Path:
    """Runs the experiment's variants not yet done (in slots of --parallel), then writes the comparison report;
    returns its summary.md."""
    trials = options.trials or exp.trials
    state = resume_or_start(exp, trials, options, reports)
    todo = [(i, v) for i, v in enumerate(exp.variants, 1) if v.name not in state["done"]]
    ws = workspace(exp.name)
    context = Run(exp, trials, options, Path(state["report_dir"]), Progress(len(exp.variants)), ws, threading.Event())
    context.report_dir.mkdir(parents=True, exist_ok=True)
    save_progress(exp, state)
    lock = threading.Lock()

    def one(slot: int, index: int, variant: Variant) -> None:
        result = run_variant(context, index, variant, slot)
        if result is None:
            return
        with lock:
            state["done"][variant.name] = result
            save_progress(exp, state)

    parallel = max(1, min(options.parallel, MAX_PARALLEL, len(todo) or 1))
    with ThreadPoolExecutor(parallel) as pool:
        slots = [pool.submit(_slot_worker, context, todo[slot::parallel], slot, one) for slot in range(parallel)]
        try:
            _results(slots)
        except KeyboardInterrupt:
            # The terminal's Ctrl-C reached Pulumi too, which cancels what it is doing and releases the stack; the
            # variants' own steps end, then each running stack is destroyed. The main thread only waits, so that
            # no Pulumi process loses its pipes halfway (it would die holding the stack's lock).
            context.stop.set()
            print("interrupted: the running steps end, then their stacks are destroyed", flush=True)
            _results(slots, quiet=True)
            print(f"`pgha experiment {exp.name}` resumes with the variants not done", flush=True)
            raise
    shape = {"clients": BENCH_CLIENTS, "seconds": BENCH_SECONDS, "runs": BENCH_RUNS, "warmup_s": BENCH_WARMUP_S}
    summary = experiment_report.write(
        context.report_dir, exp, trials, shape, state["started"], [state["done"][v.name] for v in exp.variants]
    )
    progress_file(exp).unlink()
    return summary


def _slot_worker(
    run: Run, share: list[tuple[int, Variant]], slot: int, one: Callable[[int, int, Variant], None]
) -> None:
    """One slot's variants, one after another, on the slot's own ports; a failure stops the other slots too
    (after their current step), and the run resumes from there."""
    try:
        for index, variant in share:
            if run.stop.is_set():
                return
            one(slot, index, variant)
    except BaseException:
        run.stop.set()
        raise


def _results(futures: list[Future], quiet: bool = False) -> None:
    """Waits for every slot; the first failure is raised once all have ended (unless quiet: interrupted)."""
    failure: BaseException | None = None
    for future in futures:
        try:
            future.result()
        except Exception as exc:  # noqa: BLE001  (a variant's failure of any kind; the others still end cleanly)
            failure = failure or exc
    if failure is not None and not quiet:
        raise failure
