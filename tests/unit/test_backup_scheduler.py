"""The repository host's scheduler decides from the repository alone (it runs in its own image, so it is loaded by
path): which backup type is due, given the newest backups and the intervals."""

import argparse
import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "docker" / "pgbackrest" / "scheduler.py"
spec = importlib.util.spec_from_file_location("scheduler", PATH)
assert spec is not None and spec.loader is not None  # a .py file's spec always has its loader
scheduler = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scheduler)

HOUR, DAY = 3600, 86400
NOW = 1_800_000_000.0
EVERY = {"full": 7 * DAY, "diff": DAY, "incr": HOUR}


def taken(kind, hours_ago):
    return {"type": kind, "timestamp": {"stop": NOW - hours_ago * HOUR}}


def test_nothing_is_taken_before_the_first_backup():
    assert scheduler.due([], EVERY, NOW) is None


def test_nothing_is_due_right_after_a_full_backup():
    assert scheduler.due([taken("full", 0.5)], EVERY, NOW) is None


def test_an_incremental_after_its_interval_a_full_one_covering_it():
    assert scheduler.due([taken("full", 2)], {"full": 7 * DAY, "incr": HOUR}, NOW) == "incr"


def test_the_largest_type_due_wins():
    backups = [taken("full", 24 * 8), taken("diff", 30), taken("incr", 2)]
    assert scheduler.due(backups, EVERY, NOW) == "full"
    assert scheduler.due([*backups[1:], taken("full", 24 * 6)], EVERY, NOW) == "diff"


def test_a_diff_covers_an_incremental():
    assert scheduler.due([taken("full", 24 * 3), taken("diff", 0.5)], EVERY, NOW) is None


def test_a_type_left_out_is_never_taken():
    assert scheduler.due([taken("full", 24 * 30)], {"incr": HOUR}, NOW) == "incr"
    assert scheduler.due([taken("full", 24 * 30)], {}, NOW) is None


@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("12h", 43200), ("7d", 604800)])
def test_intervals(text, seconds):
    assert scheduler.interval(text) == seconds


@pytest.mark.parametrize("text", ["0h", "1w", "h", "1.5h", ""])
def test_bad_intervals_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        scheduler.interval(text)
