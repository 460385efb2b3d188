"""Bad stack configuration fails `pulumi preview` in the real engine, before any Docker object exists."""

import re
import secrets
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import pytest
from docker.types import IPAMConfig, IPAMPool

from pgha.clients import docker_api
from pgha.model import host
from pgha.model.settings import PASSWORD_KEYS, PORT_KEYS

ROOT = Path(__file__).resolve().parents[2]
CHOSEN_KEYS = (
    "etcdNodes",
    "postgresNodes",
    "haproxyNodes",
    "synchronousMode",
    "bindAddress",
    "subnet",
    "rwPort",
    "roPort",
    "statsPort",
    "patroniPort",
    "ttl",
    "loopWait",
    "retryTimeout",
    "colour",
    "postgresParameters",
    "allowUnsafeParameters",
    "restoreFrom",
    "restoreTarget",
    "archiveTimeout",
    "engine",
    "swarmNodes",
    "swarmLab",
    *PASSWORD_KEYS,
)
LONG_PASSWORD = secrets.token_urlsafe(18)
SHORT_PASSWORD = secrets.token_urlsafe(6)  # 8 characters


def pulumi(*args, stdin=None, check=True):
    if shutil.which("pulumi") is None:
        pytest.fail("pulumi is not on PATH: run the tests through `make test` (it sources scripts/env.sh)")
    return subprocess.run(
        ["pulumi", *args], cwd=ROOT, input=stdin, text=True, capture_output=True, check=check, timeout=180
    )


def new_stack() -> str:
    """A new stack as `pulumi stack init` makes it: nothing set."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    pulumi("stack", "init", name)
    return name


def remove_stack(name):
    pulumi("stack", "rm", "--yes", "--force", name, check=False)
    (ROOT / f"Pulumi.{name}.yaml").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def stack():
    """A throwaway stack with no password set: the program generates them."""
    name = new_stack()
    try:
        yield name
    finally:
        remove_stack(name)


def preview(stack_name, secret=None, **config):
    """Sets exactly `config` (plain text) and `secret` (as secrets) among the chosen keys, then previews;
    returns the exit code and the combined output."""
    pulumi("config", "rm-all", "--stack", stack_name, *[f"pgha:{k}" for k in CHOSEN_KEYS], check=False)
    values = [a for k, v in config.items() for a in ("--plaintext", f"pgha:{k}={v}")]
    values += [a for k, v in (secret or {}).items() for a in ("--secret", f"pgha:{k}={v}")]
    if values:
        pulumi("config", "set-all", "--stack", stack_name, *values)
    result = pulumi("preview", "--stack", stack_name, "--non-interactive", check=False)
    return result.returncode, result.stdout + result.stderr


def error_lines(output):
    """Lines naming a key, `pgha:<key>: ...` (not resource types such as pgha:cluster:PostgresCluster)."""
    return [line.strip() for line in output.splitlines() if re.match(r"pgha:\w+: ", line.strip())]


@pytest.fixture
def free_port():
    return host.free_ports(1)[0]


CASES = [
    ({"postgresNodes": 0}, "pgha:postgresNodes: '0' is not allowed; expected a whole number from 1 to 9"),
    ({"postgresNodes": 10}, "pgha:postgresNodes: '10' is not allowed; expected a whole number from 1 to 9"),
    ({"etcdNodes": 4}, "pgha:etcdNodes: '4' is not allowed; expected an odd whole number from 1 to 7"),
    ({"etcdNodes": "three"}, "pgha:etcdNodes: 'three' is not allowed"),
    (
        {"rwPort": 6000, "roPort": 6000},
        "pgha:roPort: port 6000 (roPort of haproxy-1) is also the rwPort of haproxy-1; every published port must differ",
    ),
    (
        {"rwPort": 6000, "roPort": 6010},
        "pgha:rwPort: port 6010 (rwPort + 10 of haproxy-2) is also the roPort of "
        "haproxy-1; every published port must differ",
    ),
    ({"haproxyNodes": 4}, "pgha:haproxyNodes: '4' is not allowed; expected a whole number from 1 to 3"),
    ({"statsPort": 99999}, "pgha:statsPort: '99999' is not allowed; expected a port from 1024 to 65535"),
    ({"synchronousMode": "sometimes"}, "pgha:synchronousMode: 'sometimes' is not allowed; expected off | on | quorum"),
    ({"ttl": 20, "loopWait": 10, "retryTimeout": 6}, "pgha:ttl: 20 is below loopWait + 2 * retryTimeout = 22"),
    ({"colour": "blue"}, "pgha:colour: unknown key"),
    ({"bindAddress": "192.0.2.1"}, "pgha:bindAddress: '192.0.2.1' is not an address of this host"),
    ({"subnet": "172.17.5.0/24"}, "pgha:subnet: 172.17.5.0/24 overlaps Docker network bridge"),
    (
        {"postgresParameters": '{"work_mem": "1kB"}'},
        "pgha:postgresParameters: work_mem='1kB' refused by PostgreSQL 17: 1 kB is outside the valid range",
    ),
    (
        {"postgresParameters": '{"wal_compresion": "on"}'},
        "pgha:postgresParameters: wal_compresion='on' refused by PostgreSQL 17: unrecognized configuration parameter",
    ),
    ({"postgresParameters": '{"port": "6543"}'}, "pgha:postgresParameters: port is set by Patroni itself"),
    (
        {"postgresParameters": '{"fsync": "off"}'},
        "pgha:postgresParameters: fsync='off' is unsafe: PostgreSQL no longer waits for its writes to reach the disk",
    ),
    ({"subnet": "8.8.8.0/24"}, "pgha:subnet: 8.8.8.0/24 is outside the private IPv4 ranges (10.0.0.0/8, "),
    (
        {"appPassword": LONG_PASSWORD},
        "pgha:appPassword: set in plain text; set it as a secret with `pulumi config set --secret pgha:appPassword`",
    ),
    (
        {"postgresParameters": '{"archive_timeout": "5min"}'},
        "pgha:postgresParameters: archive_timeout is set by pgha (pgha:archiveTimeout)",
    ),
    (
        {"archiveTimeout": 0},
        "pgha:archiveTimeout: '0' is not allowed; expected a whole number of seconds from 1 to 3600",
    ),
    (
        {"restoreFrom": "no-such-stack"},
        "pgha:restoreFrom: stack 'no-such-stack' has no repository on this Docker engine (no volume pgha-no-such-stack-backups)",
    ),
    (
        {"restoreFrom": "x", "restoreTarget": "2026-11-26 20:15"},
        "pgha:restoreTarget: '2026-11-26 20:15' is not allowed",
    ),
    ({"restoreTarget": "before-upgrade"}, "pgha:restoreTarget: set without pgha:restoreFrom"),
    (
        {"engine": "swarm", "swarmNodes": '["tcp://10.214.250.11:2375", "tcp://10.214.250.12:2375"]'},
        "pgha:etcdNodes: 3 members need 3 Swarm nodes, one each; pgha:swarmNodes lists 2",
    ),
    ({"engine": "swarm", "swarmLab": "no-such-lab"}, "pgha:swarmLab: no Swarm lab named 'no-such-lab' on this host"),
    ({"engine": "swarm"}, "pgha:swarmNodes: missing; pgha:engine swarm needs the nodes' engine URLs"),
    ({"swarmLab": "lab"}, "pgha:swarmLab: set, but pgha:engine is docker"),
    (
        {
            "engine": "swarm",
            "swarmNodes": "tcp://10.214.250.11:2375",
            "etcdNodes": 1,
            "postgresNodes": 1,
            "haproxyNodes": 1,
        },
        "pgha:metrics: Prometheus and its exporters are not placed on a Swarm yet",
    ),
]


def assert_refused(name, code, output, expected):
    assert code != 0, output
    assert any(line.startswith(expected) for line in error_lines(output)), output
    assert "Traceback" not in output
    assert LONG_PASSWORD not in output and SHORT_PASSWORD not in output, "a password was printed"
    assert docker_api.labelled("containers", f"pgha.stack={name}") == []
    assert docker_api.labelled("networks", f"pgha.stack={name}") == []


@pytest.mark.parametrize(
    "config, expected", CASES, ids=[e.split(":")[1] + "-" + str(i) for i, (_, e) in enumerate(CASES)]
)
def test_bad_config_fails_preview_with_one_clear_line(stack, config, expected):
    code, output = preview(stack, **config)
    assert_refused(stack, code, output, expected)


def test_a_short_password_is_refused_even_as_a_secret(stack):
    code, output = preview(stack, secret={"superuserPassword": SHORT_PASSWORD})
    assert_refused(stack, code, output, "pgha:superuserPassword: shorter than 12 characters")


def passed(code, output):
    assert code == 0, output
    assert error_lines(output) == [] and "Traceback" not in output, output


def free_port_config():
    """Ports of a one-node, one-HAProxy stack that nothing else holds: the default ones may be a running stack's
    (the post-deploy tests' stack lives until the whole session ends). The program picks a free subnet itself."""
    return dict(zip(PORT_KEYS, host.free_ports(len(PORT_KEYS)), strict=True), postgresNodes=1, haproxyNodes=1)


def test_binding_every_address_warns_what_other_machines_reach(stack):
    config = free_port_config()
    rw, ro, stats, patroni, _ = (config[k] for k in PORT_KEYS)
    code, output = preview(stack, bindAddress="0.0.0.0", **config)
    passed(code, output)
    warning = "pgha:bindAddress: 0.0.0.0 is not a loopback address: other machines can reach, on every address"
    assert warning in output, output
    assert f"read-write, read-only and stats ports {rw}, {ro}, {stats} (haproxy-1)," in output
    assert f"Patroni REST API: {patroni} (postgres-1)" in output


def test_allowed_unsafe_parameters_preview_with_a_warning_each(stack):
    parameters = '{"fsync": "off", "full_page_writes": "off"}'
    code, output = preview(stack, allowUnsafeParameters="true", postgresParameters=parameters, **free_port_config())
    passed(code, output)
    for name in ("fsync", "full_page_writes"):
        assert f"pgha:postgresParameters: {name}='off' is unsafe: " in output, output
    assert "(allowed by pgha:allowUnsafeParameters)" in output, output


def test_a_new_stack_previews_with_no_password_set():
    name = new_stack()
    try:
        code, output = preview(name, **free_port_config())
        stack_file = ROOT / f"Pulumi.{name}.yaml"
        stack_text = stack_file.read_text() if stack_file.exists() else ""
    finally:
        remove_stack(name)
    passed(code, output)
    assert "not set" not in output
    assert "Password" not in stack_text, "the preview wrote a password into the stack file"


def test_a_port_another_process_holds_is_refused(stack, free_port):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port))
        holder.listen()
        code, output = preview(stack, statsPort=free_port)
    assert code != 0
    assert f"pgha:statsPort: port {free_port} (statsPort of haproxy-1) is already bound on this host" in output


def test_an_etcd_count_change_on_a_running_stack_is_refused(stack):
    """Three created (never started) containers labelled as the stack's etcd members stand for a running stack."""
    created = [
        subprocess.run(
            [
                "docker",
                "create",
                "--label",
                f"pgha.stack={stack}",
                "--label",
                "pgha.role=etcd",
                "--name",
                f"pgha-{stack}-etcd-{i}",
                "pgha-base:trixie",
                "true",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()
        for i in (1, 2, 3)
    ]
    try:
        code, output = preview(stack, etcdNodes=5)
    finally:
        subprocess.run(["docker", "rm", "-f", *created], capture_output=True, check=True, timeout=120)
    assert code != 0
    assert "pgha:etcdNodes: 5 differs from the 3 members the running stack has" in output


def test_a_stack_that_sets_no_subnet_takes_one_no_other_network_holds(stack):
    """Another Docker network holds the /24 the stack would take: the preview takes the next free one instead of
    refusing an overlap."""
    wanted = host.stack_subnet(stack)
    holder = docker_api.client().networks.create(
        f"{stack}-holder", ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=wanted)])
    )
    try:
        assert host.stack_subnet(stack) != wanted
        code, output = preview(stack, **{k: v for k, v in free_port_config().items() if k != "subnet"})
    finally:
        holder.remove()
    passed(code, output)


def rw_port(output: str) -> int:
    found = re.search(r'rwEndpoint\s*:\s*"127\.0\.0\.1:(\d+)"', output)
    assert found, output[-3000:]
    return int(found[1])


def test_a_new_stack_with_nothing_set_previews_on_a_block_of_ports_no_one_holds():
    """`pulumi stack init` then `pulumi preview`, nothing set (no password, no key, no port): its ports are a block no
    process and no other stack holds; with a port of that block taken meanwhile, the next free block."""
    name = new_stack()
    try:
        code, output = preview(name)
        passed(code, output)
        first = rw_port(output)
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", first))
            holder.listen()
            code, output = preview(name)
    finally:
        remove_stack(name)
    passed(code, output)
    assert (first - 5000) % 100 == 0 and first <= 5900, first
    assert rw_port(output) > first
