"""The rolling replacement's two resources decide from their old and new inputs, without Docker or Patroni."""

from components import rolling_update
from components.patroni import fingerprint, rolling_order
from pgha.model.layout import Layout
from pgha.model.settings import parse


def test_a_member_is_waited_for_only_when_its_container_was_replaced(monkeypatch):
    waited = []
    monkeypatch.setattr(rolling_update.rolling, "wait_back", lambda urls, name: waited.append(name))
    provider = rolling_update._MemberBackProvider()
    old = {"member": "postgres-2", "container_id": "a", "check": {"patroni": ["u"]}}
    provider.update("postgres-2", old, old)
    assert waited == []
    provider.update("postgres-2", old, old | {"container_id": "b"})
    assert waited == ["postgres-2"]


def test_the_leader_is_switched_over_only_when_its_own_container_is_about_to_be_replaced(monkeypatch):
    switched = []
    monkeypatch.setattr(rolling_update.patroni_api, "leader", lambda urls: "postgres-1")
    monkeypatch.setattr(rolling_update.rolling, "switch_over_from", lambda urls, pw, leader: switched.append(leader))
    provider = rolling_update._HandoverProvider()
    old = {"fingerprints": {"postgres-1": "x1", "postgres-2": "x2"}, "api_urls": ["u"], "password": "pw"}
    provider.update(
        "handover", old, old | {"fingerprints": {"postgres-1": "x1", "postgres-2": "y2", "postgres-3": "y3"}}
    )
    assert switched == []  # a replica changed, a member was added: the leader stays
    provider.update("handover", old, old | {"fingerprints": {"postgres-1": "y1", "postgres-2": "y2"}})
    assert switched == ["postgres-1"]


def test_the_rolling_order_takes_the_leader_last_and_a_fingerprint_follows_image_and_configuration():
    members = Layout(parse("t1", {"subnet": "10.213.9.0/24"})).postgres()
    assert [m.name for m in rolling_order(members, "postgres-2")] == ["postgres-1", "postgres-3", "postgres-2"]
    assert [m.name for m in rolling_order(members, None)] == ["postgres-1", "postgres-2", "postgres-3"]
    assert fingerprint("pgha-patroni:a", "cfg") != fingerprint("pgha-patroni:b", "cfg")
    assert fingerprint("pgha-patroni:a", "cfg") != fingerprint("pgha-patroni:a", "cfg2")
