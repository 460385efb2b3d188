"""No password in plain text anywhere a person or a process could look; only the intended ports open."""

import subprocess

import psycopg
import pytest
import requests

from pgha.ops.status import is_member
from tests.deploy.conftest import CONFIGURED_PASSWORD, ROOT, generated_passwords, pulumi


@pytest.fixture(scope="module")
def generated(deployed):
    stack, _ = deployed
    return generated_passwords(stack)


@pytest.fixture(scope="module")
def passwords(generated):
    """The passwords in use: the generated ones, but the one the stack's config sets."""
    key, value = CONFIGURED_PASSWORD
    return generated | {key.split(":", 1)[1]: value}


def places(stack, t):
    """Every text a password must never appear in, by name."""
    containers = [c["Id"] for c in t.containers().values()]
    images = sorted({c["Image"] for c in t.containers().values()})
    docker = lambda *args: subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120).stdout  # noqa: E731
    logs = lambda c: subprocess.run(["docker", "logs", c], capture_output=True, text=True, timeout=120)  # noqa: E731
    return {
        "stack export": pulumi("stack", "export", stack=stack).stdout,
        "stack file": (ROOT / f"Pulumi.{stack}.yaml").read_text(),
        "docker inspect": docker("inspect", *containers),
        "container logs": "".join(r.stdout + r.stderr for r in map(logs, containers)),
        "image history": "".join(docker("history", "--no-trunc", i) for i in images),
    }


def test_no_password_in_plain_text(deployed, generated, passwords):
    stack, t = deployed
    every = [(f"generated {key}", value) for key, value in generated.items()] + list(passwords.items())
    for where, text in places(stack, t).items():
        for key, value in every:
            assert value not in text, f"{key} found in {where}"


def test_only_haproxy_patroni_and_prometheus_publish_ports_and_only_on_the_bind_address(deployed):
    _, t = deployed
    for name, container in t.containers().items():
        published = [p for p in container["Ports"] if p.get("PublicPort")]
        if not (is_member(name, "haproxy") or is_member(name, "postgres") or name == "prometheus"):
            assert published == [], name
        for port in published:
            assert port["IP"] == "127.0.0.1", (name, port)


def test_patroni_refuses_unsafe_requests_without_credentials(deployed):
    _, t = deployed
    assert requests.post(f"{t.patroni_apis[0]}/restart", timeout=5).status_code == 401
    assert requests.post(f"{t.patroni_apis[0]}/restart", auth=("patroni", "wrong"), timeout=5).status_code == 401


@pytest.mark.parametrize(
    "user, password_of, database",
    [
        ("app", None, "app"),  # wrong password
        ("nobody", None, "app"),  # unknown user
        ("app", "appPassword", "pgbouncer"),  # PgBouncer's admin console
        ("postgres", "superuserPassword", "app"),  # superusers do not come through the pool
    ],
)
def test_refused_logins_through_haproxy(deployed, passwords, user, password_of, database):
    _, t = deployed
    password = passwords[password_of] if password_of else "not-the-password"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host=t.rw[0], port=t.rw[1], user=user, password=password, dbname=database, connect_timeout=3)
