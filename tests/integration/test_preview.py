"""Bad stack configuration fails `pulumi preview` in the real engine, before any Docker object exists."""
import secrets
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from pgha import docker_api
from pgha.settings import PASSWORD_KEYS

ROOT = Path(__file__).resolve().parents[2]
CHOSEN_KEYS = ("etcdNodes", "postgresNodes", "synchronousMode", "bindAddress", "subnet", "rwPort", "roPort",
               "statsPort", "patroniPort", "ttl", "loopWait", "retryTimeout", "colour", "postgresParameters")


def pulumi(*args, stdin=None, check=True):
    if shutil.which("pulumi") is None:
        pytest.fail("pulumi is not on PATH: run the tests through `make test` (it sources scripts/env.sh)")
    return subprocess.run(["pulumi", *args], cwd=ROOT, input=stdin, text=True, capture_output=True, check=check,
                          timeout=180)


@pytest.fixture(scope="module")
def stack():
    name = f"t-{uuid.uuid4().hex[:8]}"
    pulumi("stack", "init", name)
    passwords = {key: secrets.token_urlsafe(16) for key in PASSWORD_KEYS}
    pulumi("config", "set-all", "--stack", name, *[a for k, v in passwords.items() for a in ("--secret", f"pgha:{k}={v}")])
    try:
        yield name, passwords
    finally:
        pulumi("stack", "rm", "--yes", "--force", name, check=False)
        (ROOT / f"Pulumi.{name}.yaml").unlink(missing_ok=True)


def preview(stack_name, **config):
    """Sets exactly `config` among the non-secret keys, then previews; returns the combined output."""
    pulumi("config", "rm-all", "--stack", stack_name, *[f"pgha:{k}" for k in CHOSEN_KEYS], check=False)
    if config:
        pulumi("config", "set-all", "--stack", stack_name, *[a for k, v in config.items() for a in ("--plaintext", f"pgha:{k}={v}")])
    result = pulumi("preview", "--stack", stack_name, "--non-interactive", check=False)
    return result.returncode, result.stdout + result.stderr


def error_lines(output):
    return [line.strip() for line in output.splitlines() if line.strip().startswith("pgha:")]


@pytest.fixture
def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CASES = [
    ({"postgresNodes": 0}, "pgha:postgresNodes: '0' is not allowed; expected a whole number from 1 to 9"),
    ({"postgresNodes": 10}, "pgha:postgresNodes: '10' is not allowed; expected a whole number from 1 to 9"),
    ({"etcdNodes": 4}, "pgha:etcdNodes: '4' is not allowed; expected an odd whole number from 1 to 7"),
    ({"etcdNodes": "three"}, "pgha:etcdNodes: 'three' is not allowed"),
    ({"rwPort": 6000, "roPort": 6000}, "pgha:roPort: port 6000 is also rwPort; every published port must differ"),
    ({"statsPort": 99999}, "pgha:statsPort: '99999' is not allowed; expected a port from 1024 to 65535"),
    ({"synchronousMode": "sometimes"}, "pgha:synchronousMode: 'sometimes' is not allowed; expected off | on | quorum"),
    ({"ttl": 20, "loopWait": 10, "retryTimeout": 6}, "pgha:ttl: 20 is below loopWait + 2 * retryTimeout = 22"),
    ({"colour": "blue"}, "pgha:colour: unknown key"),
    ({"bindAddress": "192.0.2.1"}, "pgha:bindAddress: '192.0.2.1' is not an address of this host"),
    ({"subnet": "172.17.5.0/24"}, "pgha:subnet: 172.17.5.0/24 overlaps Docker network bridge"),
    ({"postgresParameters": '{"work_mem": "1kB"}'},
     "pgha:postgresParameters: work_mem='1kB' refused by PostgreSQL 17: 1 kB is outside the valid range"),
    ({"postgresParameters": '{"wal_compresion": "on"}'},
     "pgha:postgresParameters: wal_compresion='on' refused by PostgreSQL 17: unrecognized configuration parameter"),
    ({"postgresParameters": '{"port": "6543"}'}, "pgha:postgresParameters: port is set by Patroni itself"),
]


@pytest.mark.parametrize("config, expected", CASES, ids=[e.split(":")[1] + "-" + str(i) for i, (_, e) in enumerate(CASES)])
def test_bad_config_fails_preview_with_one_clear_line(stack, config, expected):
    name, passwords = stack
    code, output = preview(name, **config)
    assert code != 0, output
    assert any(line.startswith(expected) for line in error_lines(output)), output
    assert "Traceback" not in output
    assert not any(p in output for p in passwords.values()), "a password was printed"
    assert docker_api.labelled("containers", f"pgha.stack={name}") == []
    assert docker_api.labelled("networks", f"pgha.stack={name}") == []


def test_a_port_another_process_holds_is_refused(stack, free_port):
    name, _ = stack
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port))
        holder.listen()
        code, output = preview(name, statsPort=free_port)
    assert code != 0
    assert f"pgha:statsPort: port {free_port} (statsPort) is already bound on this host" in output


def test_an_etcd_count_change_on_a_running_stack_is_refused(stack):
    """Three created (never started) containers labelled as the stack's etcd members stand for a running stack."""
    name, _ = stack
    created = [
        subprocess.run(["docker", "create", "--label", f"pgha.stack={name}", "--label", "pgha.role=etcd",
                        "--name", f"pgha-{name}-etcd-{i}", "pgha-base:trixie", "true"],
                       capture_output=True, text=True, check=True).stdout.strip()
        for i in (1, 2, 3)
    ]
    try:
        code, output = preview(name, etcdNodes=5)
    finally:
        subprocess.run(["docker", "rm", "-f", *created], capture_output=True, check=True)
    assert code != 0
    assert "pgha:etcdNodes: 5 differs from the 3 members the running stack has" in output


def test_missing_passwords_are_named():
    name = f"t-{uuid.uuid4().hex[:8]}"
    pulumi("stack", "init", name)
    try:
        code, output = preview(name)
    finally:
        pulumi("stack", "rm", "--yes", "--force", name, check=False)
        (ROOT / f"Pulumi.{name}.yaml").unlink(missing_ok=True)
    assert code != 0
    missing = [line.split(":")[1] for line in error_lines(output) if "not set" in line]
    assert missing == list(PASSWORD_KEYS), output
