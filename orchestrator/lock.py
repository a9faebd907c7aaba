"""One ``camp run`` per campaign at a time.

An advisory ``flock`` on a file in the campaign's results directory: the kernel drops it when
the process dies, even by ``kill -9``, so a crash never leaves a stale lock to clear by hand.
``lock_holder`` tells whether someone holds it without taking it (``camp status``), so a look
never makes a ``camp run`` starting at that moment fail.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from camp_contract.layout import lock_path

PROC_LOCKS = Path("/proc/locks")


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


def lock_holder(campaign_dir: Path, proc_locks: Path = PROC_LOCKS) -> int | None:
    """The pid of the ``camp run`` holding the campaign (0 where held but its pid is unknown),
    or None where no process holds it — read from the kernel's lock table (Linux), never by
    taking the lock. Where that table cannot be read, the pid the holder wrote, if it lives.
    Seen from this machine: a ``camp run`` on another host of shared storage is not."""
    path = lock_path(campaign_dir)
    try:
        stat = path.stat()
        written = path.read_text(errors="replace").strip()
    except OSError:
        return None  # no lock file: never run, or not from here
    pid = int(written) if written.isdigit() else 0
    try:
        table = proc_locks.read_text()
    except OSError:
        return pid if pid and _alive(pid) else None
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a waiter's line has "->" second
        if len(fields) < 6 or fields[1] != "FLOCK":
            continue
        device, _, inode = fields[5].rpartition(":")
        if not inode.isdigit() or int(inode) != stat.st_ino:
            continue
        major, _, minor = device.partition(":")
        same_device = (major, minor) == (f"{os.major(stat.st_dev):02x}", f"{os.minor(stat.st_dev):02x}")
        # some file systems (btrfs) report another device there: the holder's pid then decides
        if same_device or (fields[4].isdigit() and int(fields[4]) == pid and pid):
            return pid
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
