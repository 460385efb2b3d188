"""The register workload's checker, on hand-made histories: the real tools/lincheck (porcupine) runs on each, so these
prove that it can fail. Also the outcome of a failed operation, and the read-only path's staleness."""

import json
import random
from pathlib import Path

import psycopg
import psycopg.errors
import pytest

from pgha.ops.drills import linearizability, register
from pgha.ops.drills.register import FAILED, OK, UNKNOWN, Op

MS = 1_000_000  # ns


@pytest.fixture(scope="module", autouse=True)
def checker():
    try:
        return linearizability.binary()
    except linearizability.CheckerMissing as exc:
        pytest.fail(f"{exc}: these tests run the real checker (tools/lincheck), built by make setup")


def read(client, at, took, value, key="k", outcome=OK):
    return Op(client, key, "read", at * MS, value=value, ret=(at + took) * MS, outcome=outcome)


def write(client, at, took, value, key="k", outcome=OK):
    return Op(client, key, "write", at * MS, value=value, ret=(at + took) * MS, outcome=outcome)


def cas(client, at, took, expected, new, swapped, key="k", outcome=OK):
    return Op(
        client, key, "cas", at * MS, expected=expected, new=new, swapped=swapped, ret=(at + took) * MS, outcome=outcome
    )


def verdict(ops, tmp_path: Path) -> linearizability.Verdict:
    return linearizability.check(ops, tmp_path / "trial-lincheck.html", timeout_s=20)


def test_a_clean_history_with_overlaps_cas_and_a_failed_write_passes(tmp_path):
    ops = [
        write(0, 0, 10, 1),
        read(1, 5, 10, 0),  # overlaps the write: the old value is allowed
        read(2, 12, 3, 1),
        cas(0, 20, 5, 1, 2, True),
        cas(1, 22, 5, 1, 3, False),  # the other cas won
        write(2, 30, 5, 4, outcome=FAILED),  # certainly not applied: left out
        read(2, 40, 5, 2),
        write(0, 50, 5, 5, key="j"),
        read(1, 60, 5, 5, key="j"),
    ]
    v = verdict(ops, tmp_path)
    assert (v.linearizable, v.operations, v.unknown, v.left_out) == (True, 8, 0, 1)
    assert v.html == v.history == "" and not (tmp_path / "trial-lincheck.html").exists()


def test_a_lost_write_is_flagged_and_drawn(tmp_path):
    """A write acknowledged, then a read after it returned sees the value before it: the write was lost."""
    ops = [write(0, 0, 5, 1), read(0, 6, 2, 1), write(1, 10, 5, 2), read(2, 20, 5, 1)]
    v = verdict(ops, tmp_path)
    assert v.linearizable is False
    html = Path(v.html)
    assert html == tmp_path / "trial-lincheck.html" and "<html" in html.read_text().lower()
    kept = json.loads(Path(v.history).read_text())
    assert [o["kind"] for o in kept["operations"]] == ["write", "read", "write", "read"]


def test_a_stale_read_is_flagged(tmp_path):
    """A write still in flight: one client reads the new value, then another, later, reads the old one."""
    ops = [write(0, 0, 100, 1), read(1, 10, 10, 1), read(2, 30, 10, 0)]
    assert verdict(ops, tmp_path).linearizable is False


def test_a_cas_that_claims_to_swap_a_value_that_was_not_there_is_flagged(tmp_path):
    ops = [write(0, 0, 5, 1), cas(1, 10, 5, 0, 2, True)]
    assert verdict(ops, tmp_path).linearizable is False


def test_an_unknown_write_that_took_effect_passes(tmp_path):
    """The connection died after the COMMIT was sent; a later read sees the value: it did apply."""
    ops = [write(0, 0, 5, 1, outcome=UNKNOWN), read(1, 50, 5, 1), cas(1, 60, 5, 1, 2, True)]
    v = verdict(ops, tmp_path)
    assert (v.linearizable, v.unknown) == (True, 1)


def test_an_unknown_write_that_did_not_take_effect_passes(tmp_path):
    ops = [
        write(0, 0, 5, 1, outcome=UNKNOWN),
        read(1, 50, 5, 0),
        read(0, 60, 5, 0),
        write(0, 70, 5, 2),
        read(1, 80, 5, 2),
    ]
    assert verdict(ops, tmp_path).linearizable is True


def test_an_unknown_cas_either_way_passes_and_an_unknown_read_is_left_out(tmp_path):
    ops = [
        cas(0, 0, 5, 0, 1, None, outcome=UNKNOWN),
        read(1, 10, 5, 1),  # it applied
        cas(0, 20, 5, 7, 2, None, outcome=UNKNOWN),  # it could not have swapped
        read(2, 30, 5, 1),
        read(1, 40, 5, None, outcome=UNKNOWN),
    ]
    v = verdict(ops, tmp_path)
    assert (v.linearizable, v.operations, v.unknown, v.left_out) == (True, 4, 2, 1)


def test_an_unknown_write_read_before_it_began_is_still_flagged(tmp_path):
    """Unknown is not anything goes: a value cannot be read before its write was sent."""
    ops = [read(1, 0, 5, 1), write(0, 10, 5, 1, outcome=UNKNOWN)]
    assert verdict(ops, tmp_path).linearizable is False


def simulated(clients=4, keys=3, per_client=1500, seed=7, unknown_rate=0.02) -> list[Op]:
    """A linearizable history: every operation takes effect at a random point inside its interval, clients overlap;
    one in fifty of the writes loses its connection (and takes effect or not)."""
    rng = random.Random(seed)
    planned = []
    values = iter(range(1, 10**9))
    for client in range(clients):
        t = rng.randrange(0, 5)
        for _ in range(per_client):
            took = rng.randrange(1, 8)
            kind = rng.choice(("read", "write", "cas"))
            planned.append((t + rng.uniform(0, took), client, t, took, kind, f"k{rng.randrange(keys)}", next(values)))
            t += took + rng.randrange(0, 3)
    state: dict[str, int] = {}
    ops = []
    for _, client, t, took, kind, key, value in sorted(planned):
        now = state.get(key, 0)
        if kind == "read":
            ops.append(read(client, t, took, now, key))
        elif kind == "write" and rng.random() < unknown_rate:
            if rng.random() < 0.5:
                state[key] = value
            ops.append(write(client, t, took, value, key, outcome=UNKNOWN))
        elif kind == "write":
            state[key] = value
            ops.append(write(client, t, took, value, key))
        else:
            expected = now if rng.random() < 0.6 else -5
            if expected == now:
                state[key] = value
            ops.append(cas(client, t, took, expected, value, expected == now, key))
    return ops


def test_a_long_simulated_history_is_checked_within_seconds(tmp_path):
    ops = simulated()
    v = verdict(ops, tmp_path)
    assert v.linearizable is True and v.operations == len([o for o in ops if o.kind != "read" or o.outcome == OK])
    assert v.seconds < 10


def test_a_missing_checker_is_named_with_make_setup(monkeypatch, tmp_path):
    monkeypatch.setenv(linearizability.ENV, str(tmp_path / "nothing"))
    with pytest.raises(linearizability.CheckerMissing, match="make setup"):
        linearizability.binary()
    monkeypatch.delenv(linearizability.ENV)
    with pytest.raises(linearizability.CheckerMissing, match="make setup"):
        linearizability.binary()


@pytest.mark.parametrize(
    ("exc", "commit_sent", "alive", "outcome"),
    [
        # Before the COMMIT went out the transaction cannot have committed, whatever broke.
        (psycopg.OperationalError("server closed the connection unexpectedly"), False, False, FAILED),
        (
            psycopg.errors.ReadOnlySqlTransaction("cannot execute UPDATE in a read-only transaction"),
            False,
            True,
            FAILED,
        ),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False, True, FAILED),
        # The COMMIT sent, then the session cut: it may have committed.
        (psycopg.OperationalError("server closed the connection unexpectedly"), True, False, UNKNOWN),
        (psycopg.OperationalError("consuming input failed: EOF detected"), True, True, UNKNOWN),
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True, True, UNKNOWN),
        (psycopg.errors.ProtocolViolation("server conn crashed?"), True, True, UNKNOWN),
        # The server answered the COMMIT with an error, the session alive: it rolled back.
        (psycopg.errors.SerializationFailure("could not serialize access"), True, True, FAILED),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), True, True, FAILED),
    ],
)
def test_outcome_of_an_error(exc, commit_sent, alive, outcome):
    assert register.classify(exc, commit_sent, alive) == outcome


def test_staleness_is_how_long_the_value_read_had_been_overwritten():
    ops = [write(0, 0, 10, 1), write(1, 20, 10, 2), cas(0, 40, 10, 2, 3, True), write(2, 45, 100, 4, outcome=UNKNOWN)]
    reads = [
        read(9, 5, 1, 0),  # before the first write was acknowledged: current
        read(9, 15, 1, 0),  # the initial value, 5 ms after the first write's acknowledgement
        read(9, 31, 1, 1),  # 1 ms after 2 was acknowledged
        read(9, 60, 1, 2),  # 10 ms after the cas acknowledged 3
        read(9, 61, 1, 3),  # current (the unknown write is no acknowledgement)
        read(9, 70, 1, 4),  # the unknown write's value: nothing acknowledged overwrote it
        read(9, 80, 1, 1, key="other"),  # not a value of that key: left out
        read(9, 90, 1, None, outcome=FAILED),
    ]
    lags = linearizability.staleness(ops, reads)
    assert lags == pytest.approx([0.0, 0.005, 0.001, 0.010, 0.0, 0.0])
    assert linearizability.summary(lags) == (pytest.approx(0.0005), pytest.approx(0.01))
    assert linearizability.summary([]) == (None, None)
