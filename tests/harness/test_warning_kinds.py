"""Every warning kind the harness can emit is documented: the summary and the report send the
researcher to docs/measurement.md's table for what a kind means and what to do about it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_emitted_warning_kind_has_a_row_in_the_measurement_docs() -> None:
    emitted = {
        kind
        for path in (ROOT / "containers" / "harness").rglob("*.py")
        for kind in re.findall(r'\bkind="([a-z][a-z0-9_]*)"', path.read_text())
    }
    docs = (ROOT / "docs" / "measurement.md").read_text()
    documented = set(re.findall(r"^\| `([a-z][a-z0-9_]*)` \|", docs, flags=re.MULTILINE))
    assert {"throttled", "negative_energy", "no_output_tokens"} <= emitted  # the scan finds them
    assert sorted(emitted - documented) == []
