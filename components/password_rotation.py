"""The stack's passwords as the running cluster holds them: a change is rolled out live (pgha/actions/rotation.py).

The containers are created with their password files and then ignore later changes to them (ignore_changes
on those uploads), so a new password never replaces a container; this resource's update carries it instead.
"""

from __future__ import annotations

import pulumi
import pulumi.dynamic as dynamic

from components.docker_args import Workload
from pgha.actions import rotation
from pgha.model import render
from pgha.model.layout import Layout


class _Provider(dynamic.ResourceProvider):
    def create(self, props: dict) -> dynamic.CreateResult:
        # The containers were just created with these passwords: nothing to roll out.
        return dynamic.CreateResult(id_="password-rotation", outs=props)

    def diff(self, _id: str, olds: dict, news: dict) -> dynamic.DiffResult:
        keys = ("verifiers", "containers", "api_urls", "api_password")
        changed = any(olds.get(k) != news.get(k) for k in keys)
        return dynamic.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict, news: dict) -> dynamic.UpdateResult:
        rotation.apply(olds, news)
        return dynamic.UpdateResult(outs=news)


class PasswordRotation(dynamic.Resource, module="credentials", name="PasswordRotation"):
    """Inputs: each role's SCRAM verifier, each container's password files (by container name, with its id,
    its member and how it reloads), the Patroni REST API URLs and password. All secret."""

    def __init__(self, name: str, props: dict, opts: pulumi.ResourceOptions | None = None):
        secret = pulumi.ResourceOptions(additional_secret_outputs=["verifiers", "containers", "api_password"])
        super().__init__(_Provider(), name, props, pulumi.ResourceOptions.merge(opts, secret))


def password_files(
    name: str, container: Workload, member: str, reload: str, files: pulumi.Output[dict]
) -> pulumi.Output[dict]:
    """One container's entry in PasswordRotation's `containers`."""
    return pulumi.Output.all(container.id, files).apply(
        lambda v: {name: {"id": v[0], "member": member, "reload": reload, "files": v[1]}}
    )


def rotation_inputs(
    layout: Layout, passwords: pulumi.Output[render.Passwords], api_urls: list[str], entries: list[pulumi.Output[dict]]
) -> dict:
    containers = pulumi.Output.all(*entries).apply(lambda parts: {k: v for part in parts for k, v in part.items()})
    return {
        "verifiers": pulumi.Output.secret(passwords.apply(lambda p: render.role_verifiers(layout, p))),
        "containers": pulumi.Output.secret(containers),
        "api_urls": api_urls,
        "api_password": pulumi.Output.secret(passwords.apply(lambda p: p.patroni_api)),
    }
