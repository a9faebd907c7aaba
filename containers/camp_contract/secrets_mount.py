"""How secrets (HF_TOKEN) reach a container: a read-only file, never environment.

Environment given to ``docker run`` (``-e``, ``env_file``) is kept in the container's config and
shown by ``docker inspect`` to anyone who can reach the engine. So the host writes the secrets
as JSON ``{name: value}`` into a private file, compose bind-mounts it read-only at
``SECRETS_MOUNT``, and the harness puts them into its own environment when it starts. Standard
library only.
"""

from __future__ import annotations

import json
import os
from collections.abc import MutableMapping
from pathlib import Path

SECRET_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
SECRETS_MOUNT = "/run/secrets/camp-secrets.json"


def load_secrets(
    path: Path = Path(SECRETS_MOUNT), environ: MutableMapping[str, str] = os.environ
) -> list[str]:
    """Put the secrets in ``path`` (absent or empty: none) into ``environ``; the names set.
    Only the names in SECRET_VARIABLES: the file can set nothing else."""
    try:
        text = path.read_text()
    except OSError:
        return []
    try:
        found = json.loads(text) if text.strip() else {}
    except ValueError:
        return []
    names = [n for n in SECRET_VARIABLES if isinstance(found, dict) and isinstance(found.get(n), str)]
    for name in names:
        environ[name] = found[name]
    return names
