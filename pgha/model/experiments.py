"""Experiment files (experiments/<name>.yaml): a question, the settings every variant starts from, the variants
(a list, or a matrix of keys and values expanding into one variant per combination) and the workload.

Pure data in, data out: a file is checked whole before any stack is made, each problem one line, every variant's
settings checked as `pulumi preview` would check them (pgha.model.settings.parse), so a variant preview would
refuse is refused here first.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from pgha.model.settings import SettingsError, parse

EXPERIMENTS_DIR = Path(__file__).resolve().parents[2] / "experiments"
TOP_KEYS = ("name", "question", "base", "variants", "workload")
WORKLOAD_KEYS = ("drills", "trials", "bench")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class ExperimentError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Variant:
    name: str
    settings: dict[str, str]  # pgha keys (no namespace) -> values as Pulumi config holds them: base, then its own

    def stack(self, experiment: str) -> str:
        return f"exp-{experiment}-{self.name}"


@dataclass(frozen=True)
class Experiment:
    name: str
    question: str
    variants: list[Variant]
    drills: list[str]
    trials: int
    bench: list[str]


def _config_text(value: object) -> str:
    """A value as `pulumi config set` stores it: maps and lists as JSON, booleans lowercase."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _slug(value: object) -> str:
    return re.sub(r"[^a-z0-9]+", "-", _config_text(value).lower()).strip("-")


def expand(variants: dict | list) -> list[tuple[str, dict]]:
    """(name, settings) per variant: a list of {name, settings}, or {matrix: {key: [values]}}, every combination in
    the keys' order, named by its values."""
    if isinstance(variants, dict) and set(variants) == {"matrix"}:
        keys = list(variants["matrix"])
        combos = itertools.product(*(variants["matrix"][k] for k in keys))
        return [("-".join(_slug(v) for v in combo), dict(zip(keys, combo, strict=True))) for combo in combos]
    return [(str(v.get("name", "")), dict(v.get("settings") or {})) for v in variants]


def _unknown(keys: Iterable[str], known: tuple[str, ...], where: str) -> list[str]:
    problems = []
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            problems.append(
                f"{where}: unknown key {key!r}"
                + (f"; did you mean {close[0]!r}?" if close else f"; expected one of {', '.join(known)}")
            )
    return problems


def _shape_problems(doc: Mapping, name: str) -> list[str]:
    problems = _unknown(doc, TOP_KEYS, name) + _unknown(doc.get("workload") or {}, WORKLOAD_KEYS, f"{name}: workload")
    variants = doc.get("variants")
    matrix = (
        isinstance(variants, dict)
        and set(variants) == {"matrix"}
        and isinstance(variants["matrix"], dict)
        and all(isinstance(v, list) and v for v in variants["matrix"].values())
    )
    listed = isinstance(variants, list) and variants and all(isinstance(v, dict) and v.get("name") for v in variants)
    if not (matrix or listed):
        problems.append(f"{name}: variants: expected a list of {{name, settings}} or {{matrix: {{key: [values]}}}}")
    if not isinstance(doc.get("base") or {}, dict):
        problems.append(f"{name}: base: expected a map of pgha settings")
    return problems


def _workload_problems(workload: Mapping, name: str, scenarios: Iterable[str], workloads: Iterable[str]) -> list[str]:
    problems = [
        f"{name}: workload: drill {d!r} is not a scenario; expected one of {', '.join(scenarios)}"
        for d in workload.get("drills", [])
        if d not in scenarios
    ]
    problems += [
        f"{name}: workload: bench {b!r} is not a workload; expected one of {', '.join(workloads)}"
        for b in workload.get("bench", [])
        if b not in workloads
    ]
    trials = workload.get("trials", 1)
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        problems.append(f"{name}: workload: trials {trials!r} is not allowed; expected a whole number, 1 or more")
    return problems


def _variant_problems(experiment: str, variants: list[Variant]) -> list[str]:
    problems = []
    seen = [v.name for v in variants]
    problems += [f"{experiment}: variant {n!r} is named twice" for n in sorted({n for n in seen if seen.count(n) > 1})]
    for variant in variants:
        try:
            parse(variant.stack(experiment), variant.settings)
        except SettingsError as exc:
            problems += [f"{experiment}: variant {variant.name!r}: {p}" for p in exc.problems]
    return problems


def load(path: Path, scenarios: Iterable[str], workloads: Iterable[str]) -> Experiment:
    """The experiment in `path`, checked whole; ExperimentError with one line per problem."""
    scenarios, workloads = list(scenarios), list(workloads)
    doc = yaml.safe_load(path.read_text()) or {}
    name = str(doc.get("name", path.stem))
    problems = [] if NAME.match(name) else [f"{path.name}: name {name!r}: expected lowercase letters, digits and '-'"]
    problems += _shape_problems(doc, name)
    if problems:
        raise ExperimentError(problems)
    base = {k: _config_text(v) for k, v in (doc.get("base") or {}).items()}
    variants = [Variant(n, base | {k: _config_text(v) for k, v in own.items()}) for n, own in expand(doc["variants"])]
    workload = doc.get("workload") or {}
    problems = _workload_problems(workload, name, scenarios, workloads) + _variant_problems(name, variants)
    if problems:
        raise ExperimentError(problems)
    return Experiment(
        name,
        str(doc.get("question", "")),
        variants,
        list(workload.get("drills", [])),
        int(workload.get("trials", 1)),
        list(workload.get("bench", [])),
    )


def path_of(name: str) -> Path:
    return EXPERIMENTS_DIR / f"{name}.yaml"
