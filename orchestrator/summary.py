"""The table printed at the end of ``camp run``: one row per experiment, with intervals."""

from __future__ import annotations

from pathlib import Path


def summary_text(campaign_dir: Path) -> str:
    return ""
