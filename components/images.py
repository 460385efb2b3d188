"""Component images, built by the program from docker/<component>/Dockerfile on the local base image."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pulumi
import pulumi_docker as docker

DOCKER_DIR = Path(__file__).resolve().parent.parent / "docker"
BASE_IMAGE = "pgha-base:trixie"
# What pulumi-docker builds for when no platform is given (Linux on the host's architecture), said explicitly:
# unset, every preview and update prints a warning per image.
BUILD_PLATFORM = "linux/" + {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def context_digest(component: str) -> str:
    """Digest of the build context: the image tag, so an unchanged context is never rebuilt."""
    digest = hashlib.sha256()
    for path in sorted((DOCKER_DIR / component).rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(DOCKER_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def component_image(
    component: str, parent: pulumi.Resource, revision: int = 0, after: Sequence[pulumi.Resource] = ()
) -> docker.Image:
    """`revision` (the node image's, from pgha:nodeImageRevision) is a build argument its Dockerfile installs its
    packages after: a new one rebuilds them from Debian's current archive, under a new tag. `after`: what the
    build waits for."""
    return docker.Image(
        f"{component}-image",
        image_name=f"pgha-{component}:{context_digest(component)}" + (f"-r{revision}" if revision else ""),
        build=docker.DockerBuildArgs(
            # Relative to the project (the program's working directory), so that the same stack previewed
            # from another checkout sees no change.
            context=f"docker/{component}",
            args={"BASE_IMAGE": BASE_IMAGE, **({"PGHA_REVISION": str(revision)} if revision else {})},
            platform=BUILD_PLATFORM,
            # BuildKit leaves no intermediate containers behind (the classic builder, as this provider
            # drives it, keeps one per instruction); the local base image is used as is, nothing is pulled.
            builder_version=docker.BuilderVersion.BUILDER_BUILD_KIT,
        ),
        skip_push=True,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
    )


def check_image(component: str) -> str:
    """The component's image for checks made outside `pulumi up` (preview-time checks, image tests), built
    with the Docker CLI when missing. Its own tag: the CLI's classic builder makes other image IDs than the
    program's BuildKit builds, so sharing their tag would untag one or the other on every build."""
    tag = f"pgha-check-{component}:{context_digest(component)}"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0:
        # --force-rm: no intermediate container is left behind, even when the build fails.
        subprocess.run(
            [
                "docker",
                "build",
                "-q",
                "--force-rm",
                "--build-arg",
                f"BASE_IMAGE={BASE_IMAGE}",
                "-t",
                tag,
                str(DOCKER_DIR / component),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        )
    return tag
