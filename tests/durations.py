"""Each test's measured time, what its pytest-timeout limit is sized from (tests/conftest.py).

`make test` writes a JUnit report of the run's call times (PGHA_HOME/test-report.xml); `make durations` keeps them
in tests/durations.json, with the date, commit and machine they were measured on:

    python -m tests.durations REPORT.xml "2026-12-07 · abc1234 · m1"
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

DURATIONS = Path(__file__).with_name("durations.json")


def junit_key(nodeid: str) -> str:
    """tests/unit/test_x.py::test_y[a] -> tests.unit.test_x::test_y[a]: what a JUnit report names a test by (its
    classname, then its name)."""
    path, _, rest = nodeid.partition("::")
    module = path.removesuffix(".py").replace("/", ".")
    *classes, name = rest.split("::")
    return "::".join([".".join([module, *classes]), name])


def from_report(xml_text: str) -> dict[str, float]:
    """Seconds per passed test of a JUnit report (pytest's junit_duration_report=call: the test itself)."""
    seconds = {}
    for case in ET.fromstring(xml_text).iter("testcase"):
        if any(case.find(outcome) is not None for outcome in ("failure", "error", "skipped")):
            continue  # a failed or skipped test's time says nothing of its usual length
        seconds[f"{case.get('classname')}::{case.get('name')}"] = round(float(case.get("time") or 0), 2)
    return dict(sorted(seconds.items()))


def load() -> dict[str, float]:
    return json.loads(DURATIONS.read_text())["seconds"] if DURATIONS.exists() else {}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    report, measured = Path(argv[0]), argv[1]
    if not report.exists():
        print(f"no test report at {report}: run `make test` first", file=sys.stderr)
        return 2
    seconds = from_report(report.read_text())
    DURATIONS.write_text(json.dumps({"measured": measured, "seconds": seconds}, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(seconds)} tests' durations in {DURATIONS.name}, measured {measured}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
