"""Every stack verb on a stack that does not exist, is not deployed or is half-deployed, or with a target file that is
not there: one line on stderr naming the stack (or file) and what to run, exit 2, nothing on stdout, no traceback.
No Docker, no deploy: Pulumi's answers are simulated, except in the last test, which asks the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from typing import Any

import pytest

from pgha import cli
from pgha.model import repository
from pgha.ops import target
from pgha.ops.backups import backups

STACK = "exp2"
FULL = {
    "rwEndpoints": ["127.0.0.1:5000"],
    "roEndpoints": ["127.0.0.1:5001"],
    "statsUrls": ["http://127.0.0.1:7000/"],
    "connectionString": "postgresql://app:pw@127.0.0.1:5000/app",
    "patroniApis": ["http://127.0.0.1:8008"],
    "database": "app",
    "user": "app",
    "password": "pw",
    "patroniApiPassword": "api-pw",
}

# The verbs that act on a deployed stack, each with the arguments it needs to get as far as asking for it.
STACK_VERBS = [
    ["status"],
    ["wait"],
    ["switchover"],
    ["drill", "kill-primary"],
    ["check"],
    ["bench"],
    ["backup"],
    ["dashboard"],
    ["metrics-cost"],
    ["outputs"],
]
REPOSITORY_VERBS = [["backups"], ["drop-backups"]]


def _done(argv: list[str], returncode: int = 0, stdout: str = "", stderr: str = "") -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess(argv, returncode, stdout, stderr)


# Pulumi's answers, as `pulumi stack output --json --show-secrets` and `pulumi stack ls --json` give them.
ANSWERS: dict[str, dict[str, Any]] = {
    "does not exist": {"output": (6, "", "error: no stack named 'exp2' found\n")},
    "never deployed": {"output": (0, "{}\n", ""), "ls": [{"name": STACK, "resourceCount": 0}]},
    "first up failed": {"output": (0, "{}\n", ""), "ls": [{"name": STACK, "resourceCount": 12}]},
    "outputs incomplete": {"output": (0, json.dumps({"database": "app", "user": "app"}), "")},
}
EXPECTED = {
    "does not exist": f"pgha: stack '{STACK}' does not exist: deploy it with make up STACK={STACK}",
    "never deployed": f"pgha: stack '{STACK}' is not deployed (no outputs): deploy it with make up STACK={STACK}",
    "first up failed": f"pgha: stack '{STACK}' is half-deployed (12 resources, no outputs): "
    f"run make up STACK={STACK} again, or make down STACK={STACK}",
    "outputs incomplete": f"pgha: stack '{STACK}' is half-deployed (its outputs lack rwEndpoints, roEndpoints, "
    f"statsUrls, patroniApis, password, patroniApiPassword): run make up STACK={STACK} again, or make down STACK={STACK}",
}


@pytest.fixture
def pulumi_says(monkeypatch):
    """Makes the Pulumi CLI answer as ANSWERS[case] says (or raise `case` when an exception); returns the calls."""
    calls: list[tuple[list[str], dict]] = []

    def answer(case):
        def run(argv, **kwargs):
            calls.append((argv, kwargs))
            if isinstance(case, BaseException):
                raise case
            if argv[1:3] == ["stack", "output"]:
                return _done(argv, *ANSWERS[case]["output"])
            if argv[1:3] == ["stack", "ls"]:
                return _done(argv, 0, json.dumps(ANSWERS[case]["ls"]))
            raise AssertionError(f"unexpected command {argv}")

        monkeypatch.setattr(target.subprocess, "run", run)
        return calls

    return answer


def _one_line(capsys) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("case", list(ANSWERS))
@pytest.mark.parametrize("verb", STACK_VERBS, ids=lambda v: v[0])
def test_every_stack_verb_says_what_to_run_in_one_line(verb, case, pulumi_says, capsys):
    calls = pulumi_says(case)
    assert cli.main(["--stack", STACK, *verb]) == 2
    assert _one_line(capsys) == EXPECTED[case]
    argv, kwargs = calls[0]
    assert argv == ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", STACK]
    assert kwargs["timeout"] == target.PULUMI_TIMEOUT_S
    assert kwargs["cwd"] == target.stacks.ROOT  # Pulumi.yaml names the project, wherever pgha is run from


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (
            FileNotFoundError("pulumi"),
            f"pgha: cannot read stack '{STACK}': the pulumi CLI is not on PATH: run make setup, and . scripts/env.sh",
        ),
        (
            subprocess.TimeoutExpired(["pulumi"], 60),
            f"pgha: cannot read stack '{STACK}': pulumi stack output did not answer within 60s: try again once no "
            f"other pulumi command holds it",
        ),
    ],
    ids=["no pulumi", "pulumi hangs"],
)
@pytest.mark.parametrize("verb", STACK_VERBS, ids=lambda v: v[0])
def test_no_pulumi_or_no_answer_is_one_line_too(verb, failure, expected, pulumi_says, capsys):
    pulumi_says(failure)
    assert cli.main(["--stack", STACK, *verb]) == 2
    assert _one_line(capsys) == expected


def test_another_pulumi_failure_is_its_error_line(monkeypatch, capsys):
    monkeypatch.setenv("PULUMI_BACKEND_URL", "file:///nowhere")
    failed = _done([], 255, "", "warning: something\nerror: passphrase must be set with PULUMI_CONFIG_PASSPHRASE\n")
    monkeypatch.setattr(target.subprocess, "run", lambda argv, **kwargs: failed)
    assert cli.main(["--stack", STACK, "status"]) == 2
    assert _one_line(capsys) == (
        f"pgha: cannot read stack '{STACK}': pulumi stack output failed: passphrase must be set with "
        f"PULUMI_CONFIG_PASSPHRASE"
    )


@pytest.mark.parametrize("verb", REPOSITORY_VERBS, ids=lambda v: v[0])
def test_backup_verbs_on_a_stack_without_repository_say_so_in_one_line(verb, monkeypatch, capsys):
    monkeypatch.setattr(repository, "exists", lambda stack: False)
    monkeypatch.setattr(backups, "listing", lambda *a: pytest.fail("would make the repository's volume, empty"))
    monkeypatch.setattr(backups, "drop", lambda *a: pytest.fail("nothing to drop"))
    assert cli.main(["--stack", "nosuch", *verb]) == 2
    line = _one_line(capsys)
    assert line.startswith("pgha: stack 'nosuch' has no backup repository on this Docker engine (no volume ")
    assert line.endswith(
        "nothing to list (make up STACK=nosuch with pgha:backups true makes one)"
        if verb == ["backups"]
        else "nothing to drop (dropped already, or never made)"
    )


def test_backups_of_a_destroyed_stack_still_read_its_kept_repository(monkeypatch, capsys, pulumi_says):
    pulumi_says("never deployed")  # what Pulumi says of a destroyed stack; the backup verbs do not ask it
    monkeypatch.setattr(repository, "exists", lambda stack: True)
    monkeypatch.setattr(backups, "listing", lambda stack, key: {1: {"name": stack, "backup": [], "archive": []}})
    monkeypatch.setattr(backups, "drop", lambda stack: None)
    monkeypatch.setattr(cli.deploys, "backup_key", lambda stack: None)
    monkeypatch.setattr(cli.stacks, "machine_backup_key", lambda: "key")
    assert cli.main(["--stack", STACK, "backups", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == STACK
    assert cli.main(["--stack", STACK, "drop-backups"]) == 0
    assert capsys.readouterr().out == f"dropped the repository of stack {STACK}\n"


@pytest.mark.parametrize("verb", STACK_VERBS + REPOSITORY_VERBS, ids=lambda v: v[0])
def test_a_missing_target_file_is_one_line(verb, tmp_path, capsys):
    missing = tmp_path / "nosuch.json"
    assert cli.main(["--target-file", str(missing), *verb]) == 2
    assert _one_line(capsys) == (
        f'pgha: target file {missing} does not exist: write it from make outputs STACK=<name>, with a "stack" field added'
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "is not JSON"),
        (json.dumps(FULL), 'has no "stack" field'),
        (json.dumps({"stack": STACK, "database": "app"}), "lacks rwEndpoints, roEndpoints"),
    ],
    ids=["not JSON", "no stack", "outputs missing"],
)
def test_a_target_file_that_cannot_make_a_target_is_one_line(content, expected, tmp_path, capsys):
    path = tmp_path / "outputs.json"
    path.write_text(content)
    assert cli.main(["--target-file", str(path), "status"]) == 2
    line = _one_line(capsys)
    assert line.startswith(f"pgha: target file {path} ") and expected in line


def test_outputs_prints_a_deployed_stacks_outputs(monkeypatch, capsys):
    monkeypatch.setattr(target.subprocess, "run", lambda argv, **kwargs: _done(argv, 0, json.dumps(FULL)))
    assert cli.main(["--stack", STACK, "outputs"]) == 0
    assert json.loads(capsys.readouterr().out) == FULL


def test_other_failures_are_not_swallowed(monkeypatch):
    def broken(args):
        raise ValueError("a bug")

    monkeypatch.setitem(cli.HANDLERS, "status", broken)
    with pytest.raises(ValueError, match="a bug"):
        cli.main(["--stack", STACK, "status"])


def test_the_real_pulumi_on_a_stack_that_cannot_exist(capsys):
    if shutil.which("pulumi") is None:
        pytest.skip("the pulumi CLI is not on PATH (run make setup, then . scripts/env.sh)")
    if not os.environ.get("PULUMI_BACKEND_URL"):
        pytest.skip("no PULUMI_BACKEND_URL: scripts/env.sh is not sourced, so pulumi has no backend to ask")
    name = f"pgha-test-no-such-stack-{uuid.uuid4().hex[:12]}"
    assert cli.main(["--stack", name, "status"]) == 2
    assert _one_line(capsys) == f"pgha: stack '{name}' does not exist: deploy it with make up STACK={name}"
