"""The experiment loop, timed: a throwaway stack of the default shape (Pulumi.dev.yaml's settings on free ports; the
program itself picks a subnet no other network holds) brought up until healthy, previewed with no change, and destroyed, with where each command's
seconds went. Pulumi's JSON engine events are stamped as they arrive: the time before the first one is the CLI,
the language host and the program starting; each resource step lasts from its pre event to its outputs event.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pgha.model import host, repository, stacks
from pgha.model.settings import PORT_KEYS
from pgha.ops import target
from pgha.ops.backups import backups
from pgha.ops.drills import drill

COMMAND_TIMEOUT_S = 600
SLOWEST = 5  # resource steps listed per command
COMPONENT_TYPES = {"pulumi:pulumi:Stack"}  # and pgha:*: they last as long as their children, so say nothing


@dataclass
class CommandTiming:
    command: str
    seconds: float
    to_first_event_s: float  # CLI, language host and program start, before the engine reports anything
    changes: int  # resource steps other than "same"
    slowest: list[tuple[str, str, float]] = field(default_factory=list)  # (resource, operation, seconds)
    messages: list[str] = field(default_factory=list)  # what the engine printed besides the steps (a quiet run: none)


def resource_steps(stamped_events: list[tuple[float, dict]]) -> list[tuple[str, str, float, float]]:
    """(resource, operation, start, end) for every step that changed something, from stamped engine events."""
    starts: dict[str, float] = {}
    steps = []
    for stamp, event in stamped_events:
        if "resourcePreEvent" in event:
            starts[event["resourcePreEvent"]["metadata"]["urn"]] = stamp
        elif "resOutputsEvent" in event:
            meta = event["resOutputsEvent"]["metadata"]
            if meta["op"] != "same" and meta["type"] not in COMPONENT_TYPES and not meta["type"].startswith("pgha:"):
                steps.append((meta["urn"].rsplit("::", 1)[1], meta["op"], starts.get(meta["urn"], stamp), stamp))
    return steps


def messages(events: list[dict]) -> list[str]:
    """The first line of every diagnostic the engine would print (debug ones aside), colour codes removed."""
    found = []
    for event in events:
        diagnostic = event.get("diagnosticEvent")
        if diagnostic and diagnostic.get("severity") != "debug" and not diagnostic.get("ephemeral"):
            text = re.sub(r"<\{%[a-z]+%\}>", "", diagnostic.get("message", "")).strip()
            found.append(f"{diagnostic['severity']}: {text.splitlines()[0] if text else ''}")
    return found


def timing(command: str, seconds: float, stamped_events: list[tuple[float, dict]]) -> CommandTiming:
    steps = resource_steps(stamped_events)
    slowest = sorted(((name, op, round(end - start, 2)) for name, op, start, end in steps), key=lambda s: -s[2])
    first = stamped_events[0][0] if stamped_events else seconds
    return CommandTiming(
        command,
        round(seconds, 2),
        round(first, 2),
        len(steps),
        slowest[:SLOWEST],
        messages([event for _, event in stamped_events]),
    )


def timed_pulumi(args: list[str], stack: str, config_file: Path) -> CommandTiming:
    """Runs one Pulumi command with JSON events on stdout; raises RuntimeError with Pulumi's last words on failure."""
    env = {**os.environ, "PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "1"}
    argv = ["pulumi", *args, "--json", "--stack", stack, "--config-file", str(config_file)]
    events: list[tuple[float, dict]] = []
    with tempfile.TemporaryFile("w+") as errors:
        start = time.monotonic()
        proc = subprocess.Popen(argv, cwd=stacks.ROOT, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        assert proc.stdout is not None  # stdout=PIPE
        # Reading the events blocks until Pulumi closes its output: only a watchdog bounds a command that hangs.
        watchdog = threading.Timer(COMMAND_TIMEOUT_S, proc.kill)
        watchdog.start()
        try:
            for line in proc.stdout:  # one event per line, written as it happens
                if line.startswith("{"):
                    events.append((time.monotonic() - start, json.loads(line)))
            proc.wait(COMMAND_TIMEOUT_S)
        finally:
            watchdog.cancel()
            proc.kill()
        seconds = time.monotonic() - start
        if seconds >= COMMAND_TIMEOUT_S:
            raise RuntimeError(f"pulumi {args[0]} did not end within {COMMAND_TIMEOUT_S}s; ended")
        if proc.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"pulumi {args[0]} failed: {errors.read().strip()[-2000:]}")
    return timing(args[0], seconds, events)


def throwaway_config(stack: str) -> Path:
    """The stack, created, with the default stack's settings on ports nothing else holds."""
    config = stacks.prepare(stack)
    settings = (stacks.ROOT / "Pulumi.dev.yaml").read_text()
    config.write_text(stacks.SALT.sub("", settings) + stacks.salt_of(config))
    ports = dict(zip(PORT_KEYS, host.free_ports(len(PORT_KEYS)), strict=True))
    pairs = [a for k, v in ports.items() for a in ("--plaintext", f"pgha:{k}={v}")]
    stacks.pulumi("config", "set-all", *pairs, "--stack", stack, "--config-file", str(config))
    return config


def run_once(stack: str) -> dict:
    config = throwaway_config(stack)
    try:
        up = timed_pulumi(["up", "--yes", "--skip-preview"], stack, config)
        healthy_s = drill.wait_healthy(target.from_pulumi(stack), drill.CONVERGE_S)
        preview = timed_pulumi(["preview"], stack, config)
    finally:
        destroy = timed_pulumi(["destroy", "--yes", "--skip-preview"], stack, config)
        stacks.pulumi("stack", "rm", "--yes", stack, check=False)  # refused while resources remain
        config.unlink(missing_ok=True)
        if repository.exists(stack):  # a throwaway stack's backups go with it
            backups.drop(stack)
    return {
        "up": asdict(up),
        "healthy_after_up_s": healthy_s,
        "up_to_healthy_s": round(up.seconds + healthy_s, 2),
        "preview": asdict(preview),
        "destroy": asdict(destroy),
    }


def run(loops: int, name_prefix: str) -> list[dict]:
    """`loops` rounds of up, wait, preview, destroy, each on a new throwaway stack, printed as they end."""
    rounds = []
    for number in range(1, loops + 1):
        result = run_once(f"{name_prefix}-loop-{uuid.uuid4().hex[:6]}")
        rounds.append(result)
        print(
            f"[loop {number}/{loops}] up to healthy {result['up_to_healthy_s']} s (up {result['up']['seconds']} s), "
            f"no-change preview {result['preview']['seconds']} s ({result['preview']['changes']} changes), "
            f"destroy {result['destroy']['seconds']} s",
            flush=True,
        )
    return rounds
