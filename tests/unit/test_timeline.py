import pytest

from pgha.ops.drills.timeline import (
    Attempt,
    longest_failure_window,
    longest_gap,
    lost_acknowledged,
    members_in_order,
    outage,
    split_brain,
)


def ok(seq, start, member="postgres-1", took=0.01, timeline=1):
    return Attempt(seq, start, start + took, True, member, timeline)


def fail(seq, start, took=0.5):
    return Attempt(seq, start, start + took, False, error="connection refused")


def test_outage_runs_from_fault_to_first_success_after_last_failure():
    attempts = [ok(1, 0.0), ok(2, 1.0), fail(3, 2.0), fail(4, 3.0), ok(5, 4.0, "postgres-2"), ok(6, 5.0, "postgres-2")]
    assert outage(attempts, fault_at=1.5) == pytest.approx(2.51)


def test_a_success_between_failures_does_not_end_the_outage():
    attempts = [fail(1, 1.0), ok(2, 2.0), fail(3, 3.0), ok(4, 4.0, "postgres-2")]
    assert outage(attempts, fault_at=0.5) == pytest.approx(3.51)


def test_no_failure_means_no_outage():
    assert outage([ok(1, 0.0), ok(2, 1.0), ok(3, 2.0)], fault_at=0.5) == 0.0


def test_an_outage_that_never_ended_is_an_error():
    with pytest.raises(ValueError):
        outage([ok(1, 0.0), fail(2, 1.0)], fault_at=0.5)


def test_longest_gap_spans_the_fault():
    attempts = [ok(1, 0.0), ok(2, 1.0), ok(3, 2.5, "postgres-2"), ok(4, 2.6, "postgres-2")]
    assert longest_gap(attempts, fault_at=1.2) == pytest.approx(1.5)


def test_lost_acknowledged_is_counted_per_member():
    lost = lost_acknowledged([1, 2, 3, 4], {"postgres-2": {1, 2, 3, 4}, "postgres-3": {1, 2}})
    assert lost == {"postgres-2": [], "postgres-3": [3, 4]}


def test_one_clean_handover_is_not_split_brain():
    attempts = [ok(1, 0.0), ok(2, 1.0), fail(3, 2.0), ok(4, 3.0, "postgres-2", timeline=2)]
    assert not split_brain(attempts)
    assert members_in_order(attempts) == ["postgres-1", "postgres-2"]


def test_overlapping_acknowledgements_by_two_members_are_split_brain():
    attempts = [ok(1, 0.0, "postgres-1", took=2.0), ok(2, 1.0, "postgres-2", took=0.1)]
    assert split_brain(attempts)


def test_the_old_primary_acknowledging_after_the_new_one_is_split_brain():
    attempts = [
        ok(1, 0.0),
        ok(2, 1.0, "postgres-2", timeline=2),
        ok(3, 2.0, "postgres-1"),
        ok(4, 3.0, "postgres-2", timeline=2),
    ]
    assert split_brain(attempts)


def test_two_members_acknowledging_on_one_timeline_is_split_brain():
    assert split_brain([ok(1, 0.0), ok(2, 1.0, "postgres-2")])


def test_a_switchover_there_and_back_is_not_split_brain():
    attempts = [ok(1, 0.0), ok(2, 1.0, "postgres-2", timeline=2), ok(3, 2.0, "postgres-1", timeline=3)]
    assert not split_brain(attempts)


def test_failure_window_is_the_longest_run_of_failures_not_the_time_since_the_fault():
    attempts = [ok(1, 0.0), fail(2, 1.0), ok(3, 2.0), ok(4, 19.5), fail(5, 20.0), ok(6, 20.6)]
    assert outage(attempts, fault_at=0.5) == pytest.approx(20.11)  # the writer's definition
    assert longest_failure_window(attempts, fault_at=0.5) == pytest.approx(1.51)


def test_failure_window_of_an_unbroken_probe_is_zero():
    assert longest_failure_window([ok(1, 0.0), ok(2, 1.0)], fault_at=0.5) == 0.0
