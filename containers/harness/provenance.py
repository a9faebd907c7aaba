"""Which camp code produced a result (``RunResult.provenance``).

The source revision comes from where the code came from: an image carries the revision it was
built from (``CAMP_SOURCE_REVISION``, baked in by ``make images`` / provisioning); code run from a
git checkout (the local executor) asks git about that checkout; anything else — an installed
wheel, an image built without the revision — is ``unknown``, never a guess. The image ID and
digest are only known to the host, which passes them into the container per run, as it
passes the machine's name and Slurm job (a container's own hostname is its ID).

``python3 -m harness.provenance`` (stdlib only) prints the checkout's revision: the images' build
arg. Outside a checkout it prints ``$CAMP_SOURCE_REVISION`` if set (a source tarball whose
revision you know), else ``unknown``.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from camp_contract.image_variables import (
    BASE_IMAGE_VARIABLE,
    HOST_VARIABLE,
    IMAGE_DIGEST_VARIABLE,
    IMAGE_ID_VARIABLE,
    IMAGE_VARIABLE,
    SLURM_JOB_VARIABLE,
    SOURCE_REVISION_VARIABLE,
)
from harness import __version__

if TYPE_CHECKING:  # imported where used: the build's `python3 -m harness.provenance` needs no pydantic
    from camp_contract.models import Provenance

UNKNOWN = "unknown"
HARNESS_DIR = Path(__file__).resolve().parent
# What decides a measurement: a change elsewhere (docs, campaigns) does not make a build dirty.
CODE_PATHS = ("containers", "orchestrator", "pyproject.toml")
GIT_TIMEOUT_S = 10.0


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=True
    )
    return done.stdout.strip()


def checkout_revision(harness_dir: Path = HARNESS_DIR) -> str | None:
    """The commit of the camp checkout ``harness_dir`` lies in, ``-dirty`` when camp's code there
    has uncommitted changes; None outside a camp checkout (a wheel installed inside some other
    repository is not that repository's code) or without a working git."""
    try:
        top = Path(_git("rev-parse", "--show-toplevel", cwd=harness_dir))
        if (top / "containers" / "harness").resolve() != harness_dir.resolve():
            return None
        commit = _git("rev-parse", "--verify", "HEAD", cwd=top)
        changes = _git("status", "--porcelain", "--", *CODE_PATHS, cwd=top)
    except (OSError, subprocess.SubprocessError):  # no git, not a repository, no commit yet
        return None
    return f"{commit}-dirty" if changes else commit


def current_provenance(environ: Mapping[str, str]) -> Provenance:
    """This harness's provenance: the image's facts from ``environ``, else the checkout's."""
    from camp_contract.models import Provenance

    return Provenance(
        camp_version=__version__,
        source_revision=environ.get(SOURCE_REVISION_VARIABLE) or checkout_revision() or UNKNOWN,
        image=environ.get(IMAGE_VARIABLE) or None,
        image_id=environ.get(IMAGE_ID_VARIABLE) or None,
        image_digest=environ.get(IMAGE_DIGEST_VARIABLE) or None,
        base_image=environ.get(BASE_IMAGE_VARIABLE) or None,
        hostname=environ.get(HOST_VARIABLE) or socket.gethostname() or None,
        slurm_job_id=environ.get(SLURM_JOB_VARIABLE) or environ.get("SLURM_JOB_ID") or None,
    )


if __name__ == "__main__":
    print(checkout_revision() or os.environ.get(SOURCE_REVISION_VARIABLE) or UNKNOWN)
