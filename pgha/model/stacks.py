"""Stack housekeeping for `make up`: create the stack when it does not exist yet, and give Pulumi a config
file of this machine's, so that deploying never touches a tracked file.

Run as `python -m pgha.model.stacks prepare STACK`; it prints the path of that file for `--config-file`. The file is
the tracked `Pulumi.STACK.yaml` (the experiment's settings) plus this machine's `encryptionsalt`, which belongs
to this machine's passphrase and so is never committed. Passwords are not written anywhere: the program
generates them and keeps them in the stack's state (components.credentials). The backups' key is the exception:
the backups outlive every stack, so their key is this machine's (beside the Pulumi passphrase, in PGHA_HOME),
written into the file as a Pulumi secret unless the tracked file sets one.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SALT = re.compile(r"^encryptionsalt: .*\n?", re.M)
BACKUP_KEY = "pgha:backupCipherPass"


PULUMI_TIMEOUT_S = 120  # stack and config commands: seconds, but a locked or unreachable backend waits forever


def pulumi_with_input(*args: str, value: str) -> None:
    subprocess.run(
        ["pulumi", *args], cwd=ROOT, input=value, text=True, capture_output=True, check=True, timeout=PULUMI_TIMEOUT_S
    )


def pulumi(*args: str, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["pulumi", *args], cwd=cwd, text=True, capture_output=True, check=check, timeout=PULUMI_TIMEOUT_S
    )


def machine_config_file(stack: str) -> Path:
    return Path(os.environ["PGHA_HOME"]) / "stacks" / f"Pulumi.{stack}.yaml"


def machine_backup_key() -> str:
    """This machine's key for the stacks' pgBackRest repositories, drawn once: the key of every stack that sets none,
    kept beside the Pulumi passphrase, outside any stack, since the backups outlive the stacks."""
    path = Path(os.environ.get("PGHA_HOME") or Path.home() / ".pgha") / "backup-cipher-pass"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def set_backup_key(stack: str, config_file: Path, key: str) -> None:
    """Sets a backup key other than this machine's in the stack's config, as a secret, given on stdin: never on a
    command line."""
    pulumi_with_input(
        "config", "set", "--secret", BACKUP_KEY, "--stack", stack, "--config-file", str(config_file), value=key
    )


def salt_of(path: Path) -> str:
    found = SALT.search(path.read_text()) if path.exists() else None
    return found.group(0).rstrip("\n") + "\n" if found else ""


def create(stack: str) -> str:
    """Creates the stack from a scratch copy of Pulumi.yaml, where `stack init` writes its new salt; returns it."""
    with tempfile.TemporaryDirectory() as scratch:
        shutil.copy(ROOT / "Pulumi.yaml", scratch)
        pulumi("stack", "init", stack, cwd=Path(scratch))
        return salt_of(Path(scratch) / f"Pulumi.{stack}.yaml")


def prepare(stack: str) -> Path:
    config = machine_config_file(stack)
    tracked = ROOT / f"Pulumi.{stack}.yaml"
    # An existing stack keeps the salt this machine already has; where none is at hand, Pulumi takes the
    # one in the stack's state (PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER, scripts/env.sh).
    salt = salt_of(config) or salt_of(tracked)
    if pulumi("stack", "select", stack, check=False).returncode != 0:
        salt = create(stack)
        pulumi("stack", "select", stack)
        print(f"created stack {stack}", file=sys.stderr)
    settings = SALT.sub("", tracked.read_text()) if tracked.exists() else "config: {}\n"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(settings + salt)
    return config


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "prepare":
        print("usage: python -m pgha.model.stacks prepare STACK", file=sys.stderr)
        return 2
    try:
        print(prepare(argv[1]))
    except subprocess.CalledProcessError as exc:
        print(f"pulumi {' '.join(exc.cmd[1:3])} failed: {exc.stderr.strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
