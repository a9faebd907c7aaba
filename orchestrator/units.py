"""Units and numbers as text, in plain Python (no numpy, so ``camp run``'s per-run line can use
them without loading pandas): the SI prefix a value needs and a number in fixed point, never in
scientific notation. ``report/formatting.py`` builds its per-column units on these, so a run's
line and the tables spell a figure alike."""

from __future__ import annotations

import math

# SI prefixes from the largest: a quantity is shown in the first whose typical value is ≥ 1.
SI_PREFIXES = (("M", 1e-6), ("k", 1e-3), ("", 1.0), ("m", 1e3), ("µ", 1e6), ("n", 1e9))
# Seconds read best as s, ms, µs: nobody writes ks.
TIME_PREFIXES = (("", 1.0), ("m", 1e3), ("µ", 1e6), ("n", 1e9))
MISSING = "—"  # a number that is not there


def prefix_for(base: str, typical: float) -> tuple[str, float]:
    """The prefix (and the factor into it) that puts ``typical`` (≥ 0) between 1 and 1000 in
    ``base`` (J, W, s, …); none for 0 or a value that is not finite."""
    prefixes = TIME_PREFIXES if base == "s" else SI_PREFIXES
    if typical == 0 or not math.isfinite(typical):
        return "", 1.0
    for prefix, scale in prefixes:
        if typical * scale >= 1:
            return prefix, scale
    return prefixes[-1]


def format_number(value: float, significant: int = 4) -> str:
    """Fixed-point, never scientific: ``significant`` digits, but never fewer than the integer
    part has, trailing zeros dropped (``12345.6`` → ``12346``, ``0.012345`` → ``0.01235``,
    ``5.0`` → ``5``)."""
    if not math.isfinite(value):
        return MISSING
    if value == 0:
        return "0"
    decimals = max(0, significant - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text  # as ``g`` does: 5, not 5.000


def format_quantity(value: float, base: str, per: str = "", significant: int = 4) -> str:
    """One value with the prefix it needs: ``0.0123, "J", "/token"`` → ``12.3 mJ/token``."""
    prefix, scale = prefix_for(base, abs(value))
    return f"{format_number(value * scale, significant)} {prefix}{base}{per}"
