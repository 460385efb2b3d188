"""The leader pool's decisions (docker/pgbouncer/pools.py), without PgBouncer, etcd or Patroni: it runs in its own
image, so it is loaded by path, and its admin console, etcd and Patroni are stand-ins recording what it asked."""

import importlib.util
import itertools
import json
import struct
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.unit import etcd_fakes
from tests.unit.etcd_fakes import ENDPOINTS

PATH = Path(__file__).resolve().parents[2] / "docker" / "pgbouncer" / "pools.py"
spec = importlib.util.spec_from_file_location("pools", PATH)
assert spec is not None and spec.loader is not None  # a .py file's spec always has its loader
pools = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pools)

PREFIX = "/pgha/pgha-dev"
Etcd: Any = pools.Etcd  # a class of a module loaded by path: its type is known at run time only


class FakeEtcd(Etcd):  # the real get(), over this range()
    def __init__(self, leader, failover=None):
        self.leader, self.failover = leader, failover

    def range(self, key, range_end):
        if key == f"{PREFIX}/leader":
            return 1, ({key: self.leader} if self.leader else {})
        if key == f"{PREFIX}/failover":  # the watched range
            found = {f"{PREFIX}/leader": self.leader} if self.leader else {}
            return 1, found | ({key: self.failover} if self.failover else {})
        name = key.rsplit("/", 1)[1]
        index = name.rsplit("-", 1)[1]
        member = {
            "conn_url": f"postgres://10.0.0.2{index}:5432/postgres",
            "api_url": f"http://10.0.0.2{index}:8008/patroni",
        }
        return 1, {key: json.dumps(member)}


class Console:
    """PgBouncer's admin console as the pool sees it: every command in order; a PAUSE may not finish in time."""

    SHOW: ClassVar[dict[str, list[dict[str, str]]]] = {
        "SHOW SERVERS": [
            {"type": "S", "state": "active", "ptr": "0x10", "link": "0xa1", "id": "7"},
            {"type": "S", "state": "idle", "ptr": "0x11", "link": "", "id": "8"},
        ],
        "SHOW CLIENTS": [
            {"type": "C", "state": "active", "ptr": "0xa1", "link": "0x10", "id": "41"},
            {"type": "C", "state": "waiting", "ptr": "0xa2", "link": "", "id": "42"},
        ],
    }

    def __init__(self, pause_finishes=True):
        self.commands, self.pause_finishes = [], pause_finishes
        self.sent: dict[str, float] = {}  # command -> when it was last sent

    def run(self, command, timeout=5.0):
        self.commands.append(command)
        self.sent[command] = time.time()
        if command == "PAUSE" and not self.pause_finishes:
            time.sleep(timeout)  # as the real console: the PAUSE waits on, and the session times out
            return None
        return self.SHOW.get(command, [])


@pytest.fixture
def pool(monkeypatch):
    """A leader pool over the stand-ins; `etcd`: the etcd client it uses (a FakeEtcd over the given leader when not
    given)."""

    def make(leader="postgres-1", writable=("postgres-1", "postgres-2", "postgres-3"), etcd=None, **console_args):
        console, targets = Console(**console_args), []

        def write_target(host, port):
            targets.append((host, port))
            console.commands.append(f"target {host}")

        monkeypatch.setattr(pools, "write_target", write_target)
        monkeypatch.setattr(pools, "_out_of_recovery", lambda url: any(f"2{m[-1]}:" in url for m in writable))
        monkeypatch.setattr(pools, "PRIMARY_DEADLINE_S", 0.2)
        monkeypatch.setattr(pools, "PAUSE_GRACE_S", 0.1)
        monkeypatch.setattr(pools, "PRIMARY_POLL_S", 0.01)
        leader_pool = pools.LeaderPool(etcd or FakeEtcd(leader), PREFIX, console)
        leader_pool.console, leader_pool.targets = console, targets
        return leader_pool

    return make


def test_a_new_leader_is_followed_only_once_out_of_recovery_then_resumed(pool):
    p = pool()
    p.follow("postgres-1")
    assert p.console.commands == ["PAUSE", "target 10.0.0.21", "RELOAD", "RESUME"]
    assert (p.target, p.paused) == ("postgres-1", False)


def test_a_switchover_request_holds_clients_until_the_new_leader_takes_writes(pool):
    p = pool()
    p.follow("postgres-1")
    p.console.commands.clear()
    p.on_failover(json.dumps({"leader": "postgres-1"}), "postgres-1")
    assert p.console.commands == ["PAUSE"] and p.paused
    p.follow(None)  # the old leader released its key: still held
    p.etcd.leader = "postgres-2"
    p.follow("postgres-2")
    assert p.console.commands == ["PAUSE", "target 10.0.0.22", "RELOAD", "RESUME"]
    p.on_failover("", "postgres-2")  # Patroni empties the key once the new leader holds the lock
    assert p.console.commands[-1] == "RESUME" and not p.paused


def test_a_pool_held_for_a_switchover_is_not_resumed_to_the_leader_it_leaves(pool):
    """The old leader's key is still there until the new leader takes the lock: read again, it is no reason to
    resume there."""
    p = pool()
    p.follow("postgres-1")
    p.console.commands.clear()
    p.on_failover(json.dumps({"leader": "postgres-1", "member": "postgres-2"}), "postgres-1")
    p.follow("postgres-1")
    assert p.console.commands == ["PAUSE"] and p.paused


def test_a_switchover_request_read_again_once_the_pool_is_resumed_holds_no_one_again(pool):
    """The key stays until Patroni clears it, and a watch opened again reads it again: after the new leader was
    followed, or after a PAUSE that did not finish was given up."""
    request = json.dumps({"leader": "postgres-1", "member": "postgres-2"})
    p = pool()
    p.follow("postgres-1")
    p.on_failover(request, "postgres-1")
    p.etcd.leader = "postgres-2"
    p.follow("postgres-2")
    p.console.commands.clear()
    p.on_failover(request, "postgres-2")
    assert p.console.commands == [] and not p.paused

    q = pool()
    q.follow("postgres-1")
    q.console.pause_finishes = False
    q.on_failover(request, "postgres-1")  # given up after PRIMARY_DEADLINE_S: resumed
    q.console.commands.clear()
    q.on_failover(request, "postgres-1")
    assert q.console.commands == [] and not q.paused


def test_a_refused_switchover_releases_the_clients_on_the_same_leader(pool):
    p = pool()
    p.follow("postgres-1")
    p.on_failover(json.dumps({"leader": "postgres-1", "candidate": "postgres-9"}), "postgres-1")
    p.on_failover(None, "postgres-1")
    assert p.console.commands[-3:] == ["target 10.0.0.21", "RELOAD", "RESUME"] and not p.paused


def scheduled(seconds_from_now: float) -> str:
    """A scheduled switchover's failover key, as Patroni writes it."""
    at = datetime.now(UTC) + timedelta(seconds=seconds_from_now)
    return json.dumps({"leader": "postgres-1", "member": "postgres-2", "scheduled_at": at.isoformat()})


def test_a_scheduled_switchover_does_not_hold_anyone_yet(pool):
    p = pool()
    p.follow("postgres-1")
    p.on_failover(scheduled(3600), "postgres-1")
    assert not p.paused


def test_a_scheduled_switchover_whose_time_has_come_holds_the_clients(pool):
    p = pool()
    p.follow("postgres-1")
    p.console.commands.clear()
    p.on_failover(scheduled(-0.1), "postgres-1")
    assert p.paused and p.console.commands == ["PAUSE"]


def test_a_lost_leader_whose_transactions_never_finish_has_only_their_clients_cut(pool):
    p = pool()
    p.follow("postgres-1")
    p.console.commands.clear()
    p.console.pause_finishes = False
    p.etcd.leader = "postgres-3"
    p.follow("postgres-3")
    # Client 41's transaction holds server 0x10; client 42 waits for a server, and is held for the new leader.
    assert p.console.commands == [
        "PAUSE",
        "SHOW SERVERS",
        "SHOW CLIENTS",
        "KILL_CLIENT 41",
        "target 10.0.0.23",
        "RELOAD",
        "RESUME",
    ]


def test_a_leader_still_in_recovery_is_not_followed_and_the_pool_stays_paused(pool):
    p = pool(writable=("postgres-1",))
    p.follow("postgres-1")
    p.etcd.leader = "postgres-2"
    p.follow("postgres-2")
    assert (p.target, p.paused) == ("postgres-1", True)
    assert p.targets == [("10.0.0.21", 5432)]


def test_the_admin_console_messages_are_read_as_the_protocol_lays_them_out():
    columns = [b"type", b"id"]
    description = struct.pack("!h", len(columns)) + b"".join(name + b"\0" + bytes(18) for name in columns)
    assert pools.row_description(description) == ["type", "id"]
    row = struct.pack("!h", 3) + struct.pack("!i", 1) + b"C" + struct.pack("!i", -1) + struct.pack("!i", 2) + b"41"
    assert pools.data_row(row) == ["C", "", "41"]
    assert pools.error_message(b"SERROR\0C08P01\0Malready suspended/paused\0\0") == "already suspended/paused"


def test_a_watch_broken_mid_stream_is_opened_again(pool, monkeypatch):
    """etcd stopped while the watch streamed (etcd-quorum-loss): http.client raises IncompleteRead, no OSError."""
    import http.client

    p = pool()
    rounds: Iterator[BaseException | list[tuple[str, str]]] = iter(
        [http.client.IncompleteRead(b""), [("/pgha/pgha-dev/leader", "postgres-2")], SystemExit()]
    )

    def watch(first, last, revision, *timeout):
        step = next(rounds)
        if isinstance(step, BaseException):
            raise step
        p.etcd.leader = "postgres-2"
        yield from step

    p.etcd.watch = watch
    monkeypatch.setattr(pools, "RETRY_S", 0)
    with pytest.raises(SystemExit):
        pools.keep_on_leader(p)
    assert p.target == "postgres-2" and not p.paused


def test_a_switchover_requested_between_two_watches_is_held_too(pool, monkeypatch):
    """An idle watch ends every WATCH_IDLE_S; a request written before the next one opens is in the range read."""
    p = pool()
    p.follow("postgres-1")
    p.etcd.failover = json.dumps({"leader": "postgres-1"})

    def watch(first, last, revision, *timeout):
        raise SystemExit
        yield

    p.etcd.watch = watch
    with pytest.raises(SystemExit):
        pools.keep_on_leader(p)
    assert p.paused and p.console.commands[-1] == "PAUSE"


def test_a_planned_pause_that_does_not_finish_resumes_and_cuts_no_one(pool, capsys):
    """A transaction still running on a live primary after the deadline is the client's own, not a lost primary's."""
    p = pool()
    p.follow("postgres-1")
    p.console.commands.clear()
    p.console.pause_finishes = False
    p.on_failover(json.dumps({"leader": "postgres-1"}), "postgres-1")
    assert p.console.commands == ["PAUSE", "RESUME"] and not p.paused
    # The real wait (PRIMARY_DEADLINE_S here), not the unplanned grace.
    assert "not done after 0.2s" in capsys.readouterr().out


def test_the_cut_after_a_lost_leader_states_how_long_it_waited(pool, capsys):
    p = pool()
    p.follow("postgres-1")
    p.console.pause_finishes = False
    p.etcd.leader = "postgres-3"
    p.follow("postgres-3")
    assert "1 transactions still running after 0.1s: their clients cut" in capsys.readouterr().out


# --- keep_on_leader on an etcd cluster: tests/unit/etcd_fakes.py --------------------------------------------------


@pytest.fixture
def cluster(monkeypatch):
    """Three etcd members, postgres-1 leading; the pools' urllib and http.client reach them only."""
    fake = etcd_fakes.FakeEtcd()
    for i in (1, 2, 3):
        member = {"conn_url": f"postgres://10.0.0.2{i}:5432/postgres", "api_url": f"http://10.0.0.2{i}:8008/patroni"}
        fake.put(f"{PREFIX}/members/postgres-{i}", json.dumps(member))
    fake.put(f"{PREFIX}/leader", "postgres-1")
    monkeypatch.setattr(pools.urllib.request, "urlopen", fake.urlopen)
    monkeypatch.setattr(pools.http.client, "HTTPConnection", fake.HTTPConnection)
    return fake


def revision_for(fake, endpoint):
    """Writes unrelated keys until a watch from the next revision would go to `endpoint` by `revision % n`."""
    while ENDPOINTS[(fake.revision + 1) % len(ENDPOINTS)] != endpoint:
        fake.put("/unrelated", "x")


def test_every_watch_opened_again_goes_to_another_member_never_the_one_cut_off(pool, cluster):
    """No write, so the revision stays: `revision % n` sent every retry to the same member, cut off here."""
    revision_for(cluster, ENDPOINTS[0])
    cluster.cut_off.add(ENDPOINTS[0])
    cluster.max_watches = 4
    p = pool(etcd=pools.Etcd(ENDPOINTS))
    with pytest.raises(SystemExit):
        pools.keep_on_leader(p)
    watched = [w["endpoint"] for w in cluster.watches]
    assert ENDPOINTS[0] not in watched
    assert all(a != b for a, b in itertools.pairwise(watched)), watched
    assert p.target == "postgres-1" and not p.paused


def test_a_watch_silent_past_the_bound_is_checked_on_another_member_and_a_change_it_missed_followed(pool, cluster):
    """The member the watch is on is cut off once it is open; meanwhile the majority elects postgres-2."""
    revision_for(cluster, ENDPOINTS[0])

    def cut_off_then_failover():
        cluster.cut_off.add(ENDPOINTS[0])
        cluster.put(f"{PREFIX}/leader", "postgres-2")

    cluster.before["/v3/watch"] = cut_off_then_failover
    cluster.max_watches = 2
    p = pool(etcd=pools.Etcd(ENDPOINTS))
    with pytest.raises(SystemExit):
        pools.keep_on_leader(p)
    first, second = cluster.watches
    assert first["endpoint"] == ENDPOINTS[0] and first["timeout"] <= 5.0  # silent no longer than the bound
    assert second["endpoint"] != ENDPOINTS[0]
    assert p.target == "postgres-2" and not p.paused


def test_a_watch_opened_again_with_a_switchover_pending_does_not_resume_to_the_old_primary(pool, cluster):
    """The request arrives on the watch and holds the pool; the watch then goes silent and is opened again: the
    range read then shows the request still there, and the leader still the old one."""
    p = pool(etcd=pools.Etcd(ENDPOINTS))
    p.follow("postgres-1")
    p.console.commands.clear()
    cluster.put(f"{PREFIX}/failover", json.dumps({"leader": "postgres-1", "member": "postgres-2"}))
    cluster.max_watches = 2
    with pytest.raises(SystemExit):
        pools.keep_on_leader(p)
    assert p.console.commands == ["PAUSE"] and p.paused


def test_a_scheduled_switchover_holds_the_clients_when_its_time_comes(pool, cluster):
    at = time.time() + 0.5
    cluster.put(f"{PREFIX}/failover", scheduled(0.5))
    cluster.silence_wait_s, cluster.max_watches = 1.0, 2  # a silent watch really waits, up to 1 s
    p = pool(etcd=pools.Etcd(ENDPOINTS))
    p.follow("postgres-1")
    p.console.commands.clear()
    with pytest.raises(SystemExit):
        pools.keep_on_leader(p)
    assert p.console.commands == ["PAUSE"] and p.paused
    assert at <= p.console.sent["PAUSE"] < at + 0.5
