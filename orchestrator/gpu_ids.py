"""What a GPU id may be: an index, a GPU UUID or a MIG device id — nothing else.

A GPU id reaches a compose env file and the Docker engine's device request; anything looser
(a newline, ``=``, a quote) could add a line or a variable there, so it is refused at the door.
"""

from __future__ import annotations

import re

_UUID = r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"
_GPU_ID = re.compile(
    rf"\d{{1,4}}"  # an index, as nvidia-smi numbers them
    rf"|GPU-{_UUID}"  # a GPU UUID
    rf"|MIG-{_UUID}"  # a MIG device (driver >= 470)
    rf"|MIG-GPU-{_UUID}/\d{{1,3}}/\d{{1,3}}"  # a MIG device, older drivers: GPU/instance/compute
)

GPU_ID_HELP = "a GPU index (0), a GPU UUID (GPU-…) or a MIG id (MIG-…), as `nvidia-smi -L` lists them"


def gpu_id_problem(value: object) -> str | None:
    """None for a valid GPU id; else what is wrong with it, for a one-line error."""
    if isinstance(value, str) and _GPU_ID.fullmatch(value):
        return None
    return f"{value!r} is not a GPU id: use {GPU_ID_HELP}"
