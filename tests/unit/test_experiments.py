"""Experiment files: matrix expansion, one-line problems, every variant checked as preview would check it."""

import pytest

from pgha.model import experiments
from pgha.model.experiments import ExperimentError, expand, load

SCENARIOS = ("kill-primary", "partition-primary", "pause-primary")
WORKLOADS = ("select-only", "tpcb")


def write(tmp_path, text, name="t.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_matrix_expands_into_every_combination_in_the_keys_order_named_by_its_values():
    assert expand({"matrix": {"ttl": [20, 30], "fastFailover": [True, False]}}) == [
        ("20-true", {"ttl": 20, "fastFailover": True}),
        ("20-false", {"ttl": 20, "fastFailover": False}),
        ("30-true", {"ttl": 30, "fastFailover": True}),
        ("30-false", {"ttl": 30, "fastFailover": False}),
    ]
    assert expand([{"name": "a", "settings": {"ttl": 25}}]) == [("a", {"ttl": 25})]


def test_variants_start_from_the_base_and_name_their_stacks(tmp_path):
    exp = load(
        write(
            tmp_path,
            """
name: t
base: {postgresNodes: 5}
variants: {matrix: {synchronousMode: ["off", quorum]}}
workload: {drills: [kill-primary], trials: 3, bench: [tpcb]}
""",
        ),
        SCENARIOS,
        WORKLOADS,
    )
    assert [(v.name, v.stack("t"), v.settings) for v in exp.variants] == [
        ("off", "exp-t-off", {"postgresNodes": "5", "synchronousMode": "off"}),
        ("quorum", "exp-t-quorum", {"postgresNodes": "5", "synchronousMode": "quorum"}),
    ]
    assert (exp.drills, exp.trials, exp.bench) == (["kill-primary"], 3, ["tpcb"])


def test_every_problem_is_one_line_naming_where_it_is(tmp_path):
    path = write(
        tmp_path,
        """
name: t
colour: blue
variants: {matrix: {ttl: [10, 20], synchronusMode: ["on"]}}
workload: {drills: [kill-primary, unplug], trials: 0, bench: [tpcc]}
""",
    )
    with pytest.raises(ExperimentError) as caught:
        load(path, SCENARIOS, WORKLOADS)
    assert caught.value.problems == [
        "t: unknown key 'colour'; expected one of name, question, base, variants, workload"
    ]
    path = write(
        tmp_path,
        """
name: t
variants: {matrix: {ttl: [10, 20], synchronusMode: ["on"]}}
workload: {drills: [kill-primary, unplug], trials: 0, bench: [tpcc]}
""",
    )
    with pytest.raises(ExperimentError) as caught:
        load(path, SCENARIOS, WORKLOADS)
    problems = caught.value.problems
    assert (
        "t: workload: drill 'unplug' is not a scenario; expected one of kill-primary, partition-primary, "
        "pause-primary" in problems
    )
    assert "t: workload: bench 'tpcc' is not a workload; expected one of select-only, tpcb" in problems
    assert "t: workload: trials 0 is not allowed; expected a whole number, 1 or more" in problems
    # What preview would refuse: a ttl below Patroni's minimum, a misspelt key (with its correction).
    assert any(p.startswith("t: variant '10-on': pgha:ttl: '10' is not allowed") for p in problems)
    assert any(
        p.startswith("t: variant '20-on': pgha:synchronusMode: unknown key; did you mean pgha:synchronousMode?")
        for p in problems
    )


def test_malformed_variants_and_names_too_long_for_a_stack_are_refused(tmp_path):
    with pytest.raises(ExperimentError, match="variants: expected a list"):
        load(write(tmp_path, "name: t\nvariants: {ttl: [20]}\n"), SCENARIOS, WORKLOADS)
    with pytest.raises(ExperimentError, match="stack name 'exp-a-very-long-experiment-name-x-20' is not allowed"):
        load(
            write(tmp_path, "name: a-very-long-experiment-name-x\nvariants: {matrix: {ttl: [20]}}\n"),
            SCENARIOS,
            WORKLOADS,
        )


@pytest.mark.parametrize("path", sorted(experiments.EXPERIMENTS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_experiment_loads_clean(path):
    from pgha.ops.bench.bench import WORKLOADS as BENCH_WORKLOADS
    from pgha.ops.drills.faults import SCENARIOS as DRILLS

    exp = load(path, DRILLS, BENCH_WORKLOADS)
    assert exp.name == path.stem and exp.question and len(exp.variants) >= 2
