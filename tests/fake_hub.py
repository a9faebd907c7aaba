"""A fake ``huggingface_hub.snapshot_download`` that lays files out as the real cache does
(``<cache>/models--org--name/snapshots/<commit>/``), so tests never reach the Hub."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FakeHub:
    """Answers snapshot_download from a cache it fills itself; remembers every call."""

    cache: Path
    weights: str = "model.safetensors"
    calls: list[dict[str, Any]] = field(default_factory=list)
    fail: Exception | None = None

    def snapshot_download(self, repo_id: str, **kwargs: Any) -> str:
        self.calls.append({"repo_id": repo_id, **kwargs})
        if self.fail is not None:
            raise self.fail
        folder = self.cache / f"models--{repo_id.replace('/', '--')}" / "snapshots" / COMMIT
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text("{}")
        ignored = kwargs.get("ignore_patterns") or []
        if not any(Path(self.weights).match(p) for p in ignored):
            (folder / self.weights).write_bytes(b"w")
        return str(folder)
