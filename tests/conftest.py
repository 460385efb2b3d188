import math
import sys
from pathlib import Path

import pytest

# Tests import the program's packages (pgha, components) the way Pulumi does: from the project root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import durations

# pytest-timeout's limit on every test that sets none (`@pytest.mark.timeout(s)`): a hang fails that test, by name,
# instead of running into CI's limit. Sized from the test's measured time (tests/durations.json) with room for a
# loaded machine, never below its suite's floor; a test not yet measured gets its suite's ceiling. The limit times
# the test itself: fixtures bound their own waits (each `pulumi` and engine call has a timeout), and the first test
# to need the session's stack would otherwise carry its deploy, image builds included on a fresh machine.
# The integration floor leaves room for a preview that builds its check image (a changed Dockerfile, a fresh machine).
MARGIN = 4
FLOOR_S = {"unit": 10, "integration": 300, "deploy": 120}
CEILING_S = {"unit": 60, "integration": 900, "deploy": 1800}


def limit_s(suite: str, measured: float | None) -> int:
    if measured is None:
        return CEILING_S[suite]
    return min(CEILING_S[suite], max(FLOOR_S[suite], math.ceil(MARGIN * measured)))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    measured = durations.load()
    for item in items:
        suite = Path(item.path).relative_to(Path(__file__).parent).parts[0]
        if suite in CEILING_S and item.get_closest_marker("timeout") is None:
            seconds = measured.get(durations.junit_key(item.nodeid))
            item.add_marker(pytest.mark.timeout(limit_s(suite, seconds), func_only=True))
