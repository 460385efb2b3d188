import sys
from pathlib import Path

import pytest

# Tests import the program's packages (pgha, components) the way Pulumi does: from the project root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# pytest-timeout's limit for a test that sets none (`@pytest.mark.timeout(s)`), by suite: a hang fails that test, by
# name, instead of running into CI's limit. A test's time includes the fixtures it is the first to need: the
# post-deploy session stack is built by the first deploy test (its images too, on a fresh machine).
SUITE_TIMEOUTS_S = {"unit": 60, "integration": 900, "deploy": 1800}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        suite = Path(item.path).relative_to(Path(__file__).parent).parts[0]
        if suite in SUITE_TIMEOUTS_S and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SUITE_TIMEOUTS_S[suite]))
