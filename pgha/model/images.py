"""The component images: their build contexts (docker/<component>/), their tags, and a build with the Docker CLI for
the checks made outside `pulumi up`. The Pulumi resource that builds them is components/images.py."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from pathlib import Path

from pgha import names

DOCKER_DIR = Path(__file__).resolve().parents[2] / "docker"
BASE_IMAGE = names.BASE_IMAGE
# What pulumi-docker builds for when no platform is given (Linux on the host's architecture), said explicitly:
# unset, every preview and update prints a warning per image.
BUILD_PLATFORM = "linux/" + {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
BUILD_TIMEOUT_S = 900


def context_digest(component: str) -> str:
    """Digest of the build context: the image tag, so an unchanged context is never rebuilt."""
    digest = hashlib.sha256()
    for path in sorted((DOCKER_DIR / component).rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(DOCKER_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def component_tag(component: str, revision: int = 0) -> str:
    """The tag `pulumi up` builds the component's image under; a node image revision is part of it."""
    return names.image(component, context_digest(component)) + (f"-r{revision}" if revision else "")


def check_image(component: str) -> str:
    """The component's image for checks made outside `pulumi up` (preview-time checks, image tests), built
    with the Docker CLI when missing. Its own tag: the CLI's classic builder makes other image IDs than the
    program's BuildKit builds, so sharing their tag would untag one or the other on every build."""
    tag = names.check_image(component, context_digest(component))
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True, timeout=60).returncode != 0:
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
            timeout=BUILD_TIMEOUT_S,
        )
    return tag
