"""One ``camp run`` per campaign at a time.

An advisory ``flock`` on a file in the campaign's results directory: the kernel drops it when
the process dies, even by ``kill -9``, so a crash never leaves a stale lock to clear by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from camp_contract.layout import lock_path


class CampaignLocked(RuntimeError):
    """Another process is running this campaign."""


@contextlib.contextmanager
def campaign_lock(campaign_dir: Path) -> Iterator[None]:
    campaign_dir.mkdir(parents=True, exist_ok=True)
    path = lock_path(campaign_dir)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise CampaignLocked(
                f"campaign results {campaign_dir} are in use by another `camp run` (pid {holder}); "
                "wait for it to finish or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
