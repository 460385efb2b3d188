"""Generated passwords: drawn once by the dynamic provider, never changed by a later diff; config wins."""

from typing import Any

import pulumi

from components.credentials import ALPHABET, LENGTH, _Provider, generate
from pgha.model.settings import MIN_PASSWORD_LENGTH, PASSWORD_KEYS

GENERATED_TYPE = "pulumi-python:dynamic/credentials:GeneratedPassword"


def test_create_draws_a_long_password_from_a_safe_alphabet():
    result = _Provider().create({"length": LENGTH})
    outs = result.outs
    assert outs is not None
    assert outs["length"] == LENGTH
    assert len(outs["result"]) == LENGTH >= MIN_PASSWORD_LENGTH
    assert set(outs["result"]) <= set(ALPHABET)
    assert outs["result"] not in result.id


def test_every_draw_differs():
    assert len({generate(LENGTH) for _ in range(50)}) == 50


def test_diff_sees_no_change_when_the_inputs_are_the_same():
    old_state = {"length": LENGTH, "result": "drawn-before", "__provider": "serialized in another checkout"}
    diff = _Provider().diff("generated-password", old_state, {"length": LENGTH, "__provider": "serialized here"})
    assert diff.changes is False and diff.replaces == []


def test_diff_replaces_when_the_length_changes():
    diff = _Provider().diff("generated-password", {"length": LENGTH, "result": "x"}, {"length": LENGTH + 8})
    assert diff.changes is True and diff.replaces == ["length"]


class GeneratingMocks(pulumi.runtime.Mocks):
    """Answers for the generated passwords the way the provider would: `result` filled in."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == GENERATED_TYPE:
            outputs["result"] = f"generated-{args.name}"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    def __init__(self, mocks):
        super().__init__(mocks)
        self.requests = []

    def RegisterResource(self, request):
        self.requests.append(request)
        return super().RegisterResource(request)


def declare_credentials(configured):
    """Declares the credentials under mocks; returns (passwords, is secret, registration requests)."""
    from components.credentials import Credentials

    monitor = RecordingMonitor(GeneratingMocks())
    pulumi.runtime.set_mocks(monitor.mocks, project="pgha", stack="t1", preview=False, monitor=monitor)
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def declare():
        passwords = Credentials("credentials", configured).passwords
        is_secret: pulumi.Output[bool] = pulumi.Output.from_input(passwords.is_secret())
        return pulumi.Output.all(passwords, is_secret).apply(lambda v: seen.update(passwords=v[0], secret=v[1]))

    declare()
    return seen["passwords"], seen["secret"], monitor.requests


def test_a_configured_password_wins_over_the_generated_one():
    passwords, secret, _ = declare_credentials({"appPassword": pulumi.Output.secret("configured-app-pw")})
    assert secret
    assert passwords.app == "configured-app-pw"
    assert (passwords.superuser, passwords.patroni_api) == (
        "generated-superuserPassword",
        "generated-patroniApiPassword",
    )


def test_every_password_is_generated_as_a_secret_output_of_the_credentials_component():
    _, secret, requests = declare_credentials({})
    assert secret
    generated = [r for r in requests if r.type == GENERATED_TYPE]
    assert [r.name for r in generated] == list(PASSWORD_KEYS)
    assert all(r.parent.endswith("pgha:credentials:Credentials::credentials") for r in generated)
    assert all(list(r.additionalSecretOutputs) == ["result"] for r in generated)
