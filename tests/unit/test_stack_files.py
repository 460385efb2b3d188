"""The committed stack files are valid, and can run side by side on one host."""

from itertools import combinations
from pathlib import Path

import pytest
import yaml

from pgha.model.settings import parse

ROOT = Path(__file__).resolve().parents[2]
READY_MADE = ("dev", "quorum5", "minimal", "async")  # users' own stack files may share ports: not checked
STACK_FILES = [ROOT / f"Pulumi.{name}.yaml" for name in READY_MADE]


def settings_of(path: Path):
    config = yaml.safe_load(path.read_text())["config"]
    raw = {
        k.split(":", 1)[1]: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in config.items()
        if not isinstance(v, dict)
    }  # secure values are maps
    return parse(path.name.split(".")[1], raw)


def test_the_ready_made_stacks_are_there():
    assert all(p.is_file() for p in STACK_FILES)


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_each_stack_file_is_valid(path):
    settings_of(path)


@pytest.mark.parametrize("a, b", list(combinations(STACK_FILES, 2)), ids=lambda p: p.name)
def test_stacks_never_share_a_port_or_a_subnet(a, b):
    sa, sb = settings_of(a), settings_of(b)
    shared = set(sa.published_ports().values()) & set(sb.published_ports().values())
    assert not shared, f"{a.name} and {b.name} both publish {sorted(shared)}"
    assert sa.subnet != sb.subnet
