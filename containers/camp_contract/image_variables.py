"""What a container is told about the image it runs in: environment variables, some baked into
the image at build time, some passed in by the host per run (the image's ID and digest, which
only the host can know). The harness records them in ``RunResult.provenance``. Standard library
only: ``python3 -m harness.provenance`` runs at build time without camp's dependencies."""

from __future__ import annotations

from collections.abc import Mapping

SOURCE_REVISION_VARIABLE = "CAMP_SOURCE_REVISION"  # baked in: the camp commit the image holds
IMAGE_VARIABLE = "CAMP_IMAGE"  # baked in: the camp image's name
BASE_IMAGE_VARIABLE = "CAMP_BASE_IMAGE"  # baked in: what it was built FROM
IMAGE_ID_VARIABLE = "CAMP_IMAGE_ID"  # per run, from the host: the image's ID (sha256:…)
IMAGE_DIGEST_VARIABLE = "CAMP_IMAGE_DIGEST"  # per run, from the host: its registry digest
# Per run, from the host that starts it: where it runs (a container's own hostname is its ID)
HOST_VARIABLE = "CAMP_HOST"
SLURM_JOB_VARIABLE = "CAMP_SLURM_JOB_ID"
# They describe an image: a process outside one must not inherit them from a shell.
IMAGE_VARIABLES = (
    SOURCE_REVISION_VARIABLE,
    IMAGE_VARIABLE,
    IMAGE_ID_VARIABLE,
    IMAGE_DIGEST_VARIABLE,
    BASE_IMAGE_VARIABLE,
)


def without_image_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` for a harness that runs outside any image (the local executor)."""
    return {k: v for k, v in environ.items() if k not in IMAGE_VARIABLES}
