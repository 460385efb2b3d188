"""The stack's passwords: generated once and kept, encrypted, in the stack's state, never in a tracked file.

Each generated password is a resource of a small dynamic provider, in the manner of pulumi-random's
RandomPassword (whose plugin this machine cannot get): `create` draws the value, and `diff` reports a change
only when the resource's own inputs change, so later previews and updates, from this checkout or any
other clone, keep the value the state holds. A `pgha:<key>` secret in the stack's config wins over it.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping

import pulumi
import pulumi.dynamic as dynamic

from pgha.model.render import Passwords
from pgha.model.settings import PASSWORD_KEYS

# Letters and digits only: safe unquoted in YAML, PgBouncer's auth_file, URLs and HTTP basic auth.
ALPHABET = string.ascii_letters + string.digits
LENGTH = 32  # about 190 bits. An input: changing it draws new passwords for every deployed stack.


def generate(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


class _Provider(dynamic.ResourceProvider):
    def create(self, props: dict) -> dynamic.CreateResult:
        length = int(props["length"])
        return dynamic.CreateResult(id_="generated-password", outs={"length": length, "result": generate(length)})

    def diff(self, _id: str, olds: dict, news: dict) -> dynamic.DiffResult:
        # Only `length` is an input; nothing else (the serialized provider included) is compared, so nothing
        # but a deliberate change ever draws a new value.
        changed = olds.get("length") != news.get("length")
        return dynamic.DiffResult(changes=changed, replaces=["length"] if changed else [], delete_before_replace=False)


class GeneratedPassword(dynamic.Resource, module="credentials", name="GeneratedPassword"):
    """A random password drawn on the first `pulumi up`; `result` is a secret output."""

    result: pulumi.Output[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        secret = pulumi.ResourceOptions(additional_secret_outputs=["result"])
        super().__init__(
            _Provider(), name, {"length": LENGTH, "result": None}, pulumi.ResourceOptions.merge(opts, secret)
        )


class Credentials(pulumi.ComponentResource):
    """Every password of the stack: the one the stack's config sets, else the generated one."""

    passwords: pulumi.Output[Passwords]

    def __init__(
        self, name: str, configured: Mapping[str, pulumi.Output[str]], opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("pgha:credentials:Credentials", name, None, opts)
        values = []
        for key in PASSWORD_KEYS:
            # Generated even when configured, so removing the config later brings back the same value.
            generated = GeneratedPassword(key, pulumi.ResourceOptions(parent=self))
            values.append(configured.get(key, generated.result))
        self.passwords = pulumi.Output.secret(pulumi.Output.all(*values).apply(lambda v: Passwords(*v)))
        self.register_outputs({})
