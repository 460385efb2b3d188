"""The watcher's decisions, without Docker or etcd (it runs in its own image, so it is loaded by path)."""
import base64
import importlib.util
import json
from pathlib import Path

PATH = Path(__file__).resolve().parents[2] / "docker" / "failover-watcher" / "watcher.py"
spec = importlib.util.spec_from_file_location("watcher", PATH)
watcher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(watcher)


def decode(text):
    return base64.b64decode(text).decode()


MEMBER = json.dumps({"conn_url": "postgres://10.0.0.21:5432/postgres", "api_url": "http://10.0.0.21:8008/patroni",
                     "state": "running", "role": "primary"})


def test_release_is_guarded_by_the_leader_key_naming_the_dead_member():
    txn = watcher.release_txn("/pgha/pgha-dev", "postgres-1", MEMBER)
    (compare,) = txn["compare"]
    assert decode(compare["key"]) == "/pgha/pgha-dev/leader"
    assert (compare["target"], compare["result"], decode(compare["value"])) == ("VALUE", "EQUAL", "postgres-1")
    delete, put = txn["success"]
    assert decode(delete["requestDeleteRange"]["key"]) == "/pgha/pgha-dev/leader"
    assert decode(put["requestPut"]["key"]) == "/pgha/pgha-dev/members/postgres-1"
    rewritten = json.loads(decode(put["requestPut"]["value"]))
    assert "api_url" not in rewritten and rewritten["conn_url"] == "postgres://10.0.0.21:5432/postgres"
    assert "failure" not in txn  # when another member holds the lock, nothing changes


def test_a_member_without_a_key_only_loses_the_lock():
    txn = watcher.release_txn("/pgha/pgha-dev", "postgres-2", None)
    assert [list(op) for op in txn["success"]] == [["requestDeleteRange"]]


def event(action="die", stack="dev", role="postgres", member="postgres-1"):
    return {"Type": "container", "Action": action,
            "Actor": {"Attributes": {"pgha.stack": stack, "pgha.role": role, "pgha.member": member}}}


def test_only_this_stacks_postgres_deaths_count():
    assert watcher.dead_member(event(), "dev") == "postgres-1"
    assert watcher.dead_member(event(action="stop"), "dev") is None
    assert watcher.dead_member(event(stack="other"), "dev") is None
    assert watcher.dead_member(event(role="pgbouncer"), "dev") is None
