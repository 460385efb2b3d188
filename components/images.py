"""Component images, built by the program from docker/<component>/Dockerfile on the local base image."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_docker as docker

from pgha.model.images import BASE_IMAGE, BUILD_PLATFORM, component_tag


def component_image(
    component: str, parent: pulumi.Resource, revision: int = 0, after: Sequence[pulumi.Resource] = ()
) -> docker.Image:
    """`revision` (the node image's, from pgha:nodeImageRevision) is a build argument its Dockerfile installs its
    packages after: a new one rebuilds them from Debian's current archive, under a new tag. `after`: what the
    build waits for."""
    return docker.Image(
        f"{component}-image",
        image_name=component_tag(component, revision),
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
