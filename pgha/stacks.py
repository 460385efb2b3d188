"""Stack housekeeping for `make up`: select or create a stack, and give it any missing password.

Run as `python -m pgha.stacks prepare STACK`. Passwords go to `pulumi config set --secret` on stdin,
so they never appear in a process list, a log or the terminal.
"""
from __future__ import annotations

import secrets
import subprocess
import sys

from pgha.settings import NAMESPACE, PASSWORD_KEYS


def pulumi(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["pulumi", *args], input=stdin, text=True, capture_output=True, check=check)


def select(stack: str) -> None:
    if pulumi("stack", "select", stack, check=False).returncode != 0:
        pulumi("stack", "init", stack)
        print(f"created stack {stack}")


def ensure_passwords(stack: str) -> None:
    for key in PASSWORD_KEYS:
        if pulumi("config", "get", f"{NAMESPACE}:{key}", "--stack", stack, check=False).returncode == 0:
            continue
        pulumi("config", "set", "--secret", f"{NAMESPACE}:{key}", "--stack", stack, stdin=secrets.token_urlsafe(24))
        print(f"generated {NAMESPACE}:{key} (a secret in Pulumi.{stack}.yaml)")


def prepare(stack: str) -> None:
    select(stack)
    ensure_passwords(stack)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "prepare":
        print("usage: python -m pgha.stacks prepare STACK", file=sys.stderr)
        return 2
    try:
        prepare(argv[1])
    except subprocess.CalledProcessError as exc:
        print(f"pulumi {' '.join(exc.cmd[1:3])} failed: {exc.stderr.strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
