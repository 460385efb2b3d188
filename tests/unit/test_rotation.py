"""A password change on a running stack: what is rolled out, in which order, and what Pulumi leaves alone."""

from typing import Any

import pulumi

from components.password_rotation import _Provider
from pgha.actions import rotation
from pgha.model import render
from pgha.model.layout import Layout
from pgha.model.settings import parse
from tests.unit.test_program import BACKUP_KEY, PASSWORDS, RecordingMocks, RecordingMonitor, of_type, unwrap_secret

ROTATION_TYPE = "pulumi-python:dynamic/credentials:PasswordRotation"


def containers(**changes):
    """Two nodes' containers as PasswordRotation's `containers` input; `changes` overrides an entry's fields."""
    specs = {
        "c-postgres-1": {"id": "a1", "member": "postgres-1", "reload": "patroni", "files": {"/s": "old"}},
        "c-pgbouncer-1": {"id": "b1", "member": "postgres-1", "reload": "hup", "files": {"/a": "old"}},
        "c-postgres-2": {"id": "a2", "member": "postgres-2", "reload": "patroni", "files": {"/s": "old"}},
        "c-pgbouncer-2": {"id": "b2", "member": "postgres-2", "reload": "hup", "files": {"/a": "old"}},
    }
    return {name: spec | changes.get(name.replace("-", "_"), {}) for name, spec in specs.items()}


def test_only_roles_whose_verifier_changed_are_altered_in_a_fixed_order():
    old = {"postgres": "v1", "replicator": "v2", "app": "v3", "pgbouncer_auth": "v4"}
    assert rotation.changed_roles(old, old) == []
    new = old | {"pgbouncer_auth": "w4", "postgres": "w1"}
    assert rotation.changed_roles(old, new) == ["postgres", "pgbouncer_auth"]
    # Every role the stack has a verifier for is one rotation knows.
    assert set(rotation.ROLE_ORDER) == set(render.role_verifiers(Layout(parse("t1", {})), PASSWORDS))


def test_containers_are_rewritten_when_their_files_change_or_they_were_replaced_never_when_new():
    old = containers()
    assert rotation.stale_containers(old, containers()) == []
    changed = containers(c_pgbouncer_1={"files": {"/a": "new"}}, c_pgbouncer_2={"files": {"/a": "new"}})
    assert rotation.stale_containers(old, changed) == ["c-pgbouncer-1", "c-pgbouncer-2"]
    # A replaced container started with the files Pulumi last recorded (ignore_changes), maybe stale.
    assert rotation.stale_containers(old, containers(c_postgres_2={"id": "a2-new"})) == ["c-postgres-2"]
    scaled = containers() | {"c-postgres-3": {"id": "a3", "member": "postgres-3", "reload": "patroni", "files": {}}}
    assert rotation.stale_containers(old, scaled) == []


def test_the_leaders_node_goes_first_and_pgbouncer_before_patroni_within_a_node():
    specs = containers()
    order = rotation.rollout_order(sorted(specs), specs, leader="postgres-2")
    assert order == ["c-pgbouncer-2", "c-postgres-2", "c-pgbouncer-1", "c-postgres-1"]


def test_no_role_or_container_to_change_touches_nothing(monkeypatch):
    monkeypatch.setattr(rotation, "leader", lambda _urls: (_ for _ in ()).throw(AssertionError("asked the cluster")))
    props = {"verifiers": {"app": "v"}, "containers": containers(), "api_urls": [], "api_password": "p"}
    rotation.apply(props, props)


def test_the_old_rest_password_is_tried_after_the_new_one(monkeypatch):
    """While a node's file still holds the old REST API password, /reload is accepted only with that one;
    the rollout then waits until the node accepts the new one."""
    node: dict[str, Any] = {"holds": "old", "calls": []}

    def rest(url, method="GET", body=None, password=None):
        node["calls"].append(password)
        if password != node["holds"]:
            return 401, {}
        node["holds"] = "new"  # the reload makes it read its rewritten file
        return 202, {}

    monkeypatch.setattr(rotation.patroni_api, "rest", rest)
    rotation.reload_patroni("http://127.0.0.1:1", ["new", "old"])
    assert node["calls"] == ["new", "old", "new"]


def test_diff_sees_a_change_only_in_its_inputs():
    props = {"verifiers": {"app": "v"}, "containers": containers(), "api_urls": ["u"], "api_password": "p"}
    assert (
        _Provider().diff("password-rotation", props | {"__provider": "a"}, props | {"__provider": "b"}).changes is False
    )
    diff = _Provider().diff("password-rotation", props, props | {"verifiers": {"app": "w"}})
    assert diff.changes is True and diff.replaces == []


class OptionsMonitor(RecordingMonitor):
    """Also keeps each registration's ignore_changes and dependencies."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.options = {}

    def RegisterResource(self, request):
        self.options[request.name] = (list(request.ignoreChanges), list(request.dependencies))
        return super().RegisterResource(request)


def deploy_with_options():
    """A 3-node cluster under mocks: its resources, and each one's (ignore_changes, dependencies) by name."""
    mocks = RecordingMocks()
    monitor = OptionsMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="pgha", stack="t1", preview=False, monitor=monitor)
    from components.cluster import PostgresCluster, PostgresClusterArgs

    @pulumi.runtime.test
    def declare():
        settings = parse("t1", {"subnet": "10.213.9.0/24"})
        PostgresCluster(
            "pgha",
            PostgresClusterArgs(Layout(settings), pulumi.Output.secret(PASSWORDS), pulumi.Output.secret(BACKUP_KEY)),
        )

    declare()
    return mocks.resources, monitor.options


def test_password_uploads_are_written_at_creation_only_and_rolled_out_by_the_rotation():
    resources, options = deploy_with_options()
    by_name = {r.name: r for r in of_type(resources, "docker:index/container:Container")}
    restore = "/etc/patroni/conf.d/15-restore.yml"  # read at bootstrap only
    for name, ignored_files in [
        ("postgres-1", ["/etc/patroni/conf.d/20-secrets.yml", "/etc/patroni/bootstrap.sql", restore]),
        ("pgbouncer-1", ["/etc/pgbouncer/auth_user.txt"]),
        ("postgres-exporter-1", ["/etc/postgres-exporter/password"]),
        ("pgbouncer-leader-exporter-2", ["/etc/pgbouncer-exporter/password"]),
    ]:
        _, uploads = unwrap_secret(by_name[name].inputs["uploads"])
        indexes = [int(path.split("[")[1].split("]")[0]) for path in options[name][0]]
        assert [uploads[i]["file"] for i in indexes] == ignored_files
    (passwords,) = [r for r in resources if r.typ == ROTATION_TYPE]
    secret, entries = unwrap_secret(passwords.inputs["containers"])
    roles = ("postgres", "pgbouncer", "postgres-exporter", "pgbouncer-node-exporter", "pgbouncer-leader-exporter")
    assert secret and sorted(entries) == sorted(f"pgha-t1-{role}-{i}" for role in roles for i in (1, 2, 3))
    assert {entries[f"pgha-t1-{role}-1"]["reload"] for role in roles[2:]} == {"restart"}
    # A PATCH of Patroni's settings waits for the rollout: it may carry a new REST API password.
    assert any(urn.endswith("::passwords") for urn in options["dynamic-config"][1])


def test_the_exporters_role_is_made_if_missing_when_its_password_rolls_out():
    """A stack bootstrapped before the exporters existed has no pgha_monitor: its first rollout makes it."""
    sql = rotation.role_sql({"app": "V1", "pgha_monitor": "V2"})
    assert sql.startswith("ALTER ROLE \"app\" PASSWORD 'V1';\n")
    assert "WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgha_monitor') \\gexec" in sql
    assert "ALTER ROLE pgha_monitor LOGIN PASSWORD 'V2';\nGRANT pg_monitor TO pgha_monitor;" in sql
