"""A seeded generator of hostile campaign files, one family per class of issue 16's input half.

Each ``Case`` says how to lay its file down (``materialize``): YAML text, raw bytes, a FIFO, a
link to ``/dev/zero``, a huge sparse file, a directory. Every case is a file ``camp`` must refuse
with exit 2 and one message naming it, writing nothing. Families draw their sizes, fields and
values from the ``random.Random`` they are given, so a seed names one corpus exactly.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HEAD = "name: fuzz\nmodels: [m]\n"
STUB = "backends:\n  stub: {}\n"


@dataclass(frozen=True)
class Case:
    family: str
    name: str
    text: str | None = None  # YAML text (written as UTF-8)
    data: bytes | None = None  # raw bytes
    special: str | None = None  # fifo | dev_zero | sparse | directory

    def materialize(self, directory: Path) -> Path:
        path = directory / f"{self.name}.yaml"
        if self.text is not None:
            path.write_text(self.text, encoding="utf-8")
        elif self.data is not None:
            path.write_bytes(self.data)
        elif self.special == "fifo":
            os.mkfifo(path)
        elif self.special == "dev_zero":
            path.symlink_to("/dev/zero")
        elif self.special == "sparse":
            with path.open("wb") as handle:
                handle.truncate(50 * 1024 * 1024)  # 50 MB of zeros, no disk used
        elif self.special == "directory":
            path.mkdir()
        return path


def _billion_laughs(rng: random.Random) -> str:
    levels, width = rng.randint(5, 10), rng.randint(5, 10)
    lines = ["a0: &a0 [lol]"]
    for level in range(1, levels + 1):
        refs = ", ".join(f"*a{level - 1}" for _ in range(width))
        lines.append(f"a{level}: &a{level} [{refs}]")
    return HEAD + STUB + "\n".join(lines) + f"\ndescription: *a{levels}\n"


def _self_alias(rng: random.Random) -> str:
    shapes = [
        "grid: &g {batch_size: *g}\n",
        "grid: &g\n  batch_size: [*g]\n",
        "workload: &w [*w]\n",
        "backends: &b\n  stub: {params: *b}\n",
        "models: &m [m, [*m]]\n",
    ]
    text = rng.choice(shapes)
    return HEAD + text if "backends" in text else HEAD + STUB + text


def _deep_nesting(rng: random.Random) -> str:
    depth = rng.choice([100, 1000, rng.randint(2000, 20000)])
    if rng.random() < 0.5:
        return HEAD + STUB + "description: " + "[" * depth + "]" * depth + "\n"
    return HEAD + STUB + "grid: " + "{a: " * depth + "1" + "}" * depth + "\n"


def _explicit_tag(rng: random.Random) -> str:
    tagged = rng.choice(
        [
            "cycles: !!int '3'",
            "name: !!float fuzz",
            "timeout_s: !!float '1e9'",
            "seed: !custom 3",
            "description: !!binary aGVsbG8=",
            "description: !!python/object/apply:os.system ['true']",
            "grid: !!set {batch_size}",
            "description: ! plain",
            "gaps: !!map {between_runs_s: 1}",
        ]
    )
    return HEAD + STUB + tagged + "\n"


def _huge_grid(rng: random.Random) -> str:
    per_axis = rng.choice([1000, 100, 10])
    axes = {1000: 2, 100: 3, 10: 6}[per_axis]
    names = ["batch_size", "workload.n_requests", "workload.max_input_tokens", "workload.max_output_tokens"]
    grid = {name: list(range(1, per_axis + 1)) for name in names[: min(axes, len(names))]}
    models = [f"m{i}" for i in range(max(1, 10 ** (axes - len(grid))))] if axes > len(grid) else ["m"]
    lines = [f"  {k}: {v}" for k, v in grid.items()]
    return f"name: fuzz\nmodels: {models}\nbackends:\n  stub: {{}}\ngrid:\n" + "\n".join(lines) + "\n"


def _absurd_number(rng: random.Random) -> str:
    digits = "9" * rng.randint(25, 5000)
    field, value = rng.choice(
        [
            ("cycles", "1000000000"),
            ("cycles", "1.0e+9"),
            ("cycles", digits),
            ("retries", "1000000"),
            ("seed", str(2**64 + rng.randint(0, 10**6))),
            ("seed", f"-{digits}"),
            ("order: {seed", f"{2**70}}}"),
            ("workload: {n_requests", "1.0e+12}"),
            ("backends: {stub: {params: {batch_size", "1.0e+100}}}"),
            ("backends: {stub: {params: {batch_size", f"{digits}}}}}"),
            ("backends: {stub: {grid: {batch_size", f"[1, {2**65}]}}}}"),
        ]
    )
    body = f"{field}: {value}\n"
    return HEAD + body if body.startswith("backends") else HEAD + STUB + body


def _wrong_param(rng: random.Random) -> str:
    key, value = rng.choice(
        [
            ("batch_size", '"big"'),
            ("batch_size", "1.5"),
            ("batch_size", "[[1]]"),
            ("batch_size", "0"),
            ("batch_size", "{a: 1}"),
            ("fault", "1"),
            ("fault", "explode"),
            ("work_ms_per_token", "-1"),
            ("work_ms_per_token", "1.0e+30"),
            ("work_ms_per_token", '"slow"'),
        ]
    )
    where = rng.choice(["params", "grid", "shared"])
    if where == "params":
        value = value.removeprefix("[").removesuffix("]") if value == "[[1]]" else value
        return HEAD + f"backends:\n  stub:\n    params: {{{key}: {value}}}\n"
    if where == "grid":
        return HEAD + f"backends:\n  stub:\n    grid: {{{key}: [{value}]}}\n"
    return HEAD + STUB + f"grid: {{{key}: [{value}]}}\n"


def _all_rejected(rng: random.Random) -> str:
    dtypes = rng.choice([["float32"], ["auto"], ["float32", "auto"]])
    return HEAD + (
        "backends:\n  pytorch:\n    grid:\n"
        f"      dtype: {dtypes}\n      attn_implementation: [flash_attention_2]\n"
    )


def _duplicate_key(rng: random.Random) -> str:
    return rng.choice(
        [
            HEAD + STUB + "cycles: 2\ncycles: 5\n",
            "name: fuzz\nname: other\nmodels: [m]\n" + STUB,
            HEAD + "backends:\n  stub: {}\n  stub: {params: {batch_size: 2}}\n",
            HEAD + "backends:\n  stub:\n    params: {batch_size: 1, batch_size: 2}\n",
            HEAD + STUB + "workload:\n  n_requests: 4\n  max_input_tokens: 8\n  n_requests: 16\n",
            HEAD + STUB + "measurement:\n  baseline: {ttl_s: 1}\n  baseline: {ttl_s: 2}\n",
            HEAD + STUB + "grid: {batch_size: [1], workload.n_requests: [2], batch_size: [3]}\n",
        ]
    )


def _not_finite(rng: random.Random) -> str:
    field = rng.choice(
        [
            "timeout_s: {v}",
            "gaps: {{between_runs_s: {v}}}",
            "gaps: {{between_cycles_s: {v}}}",
            "measurement: {{baseline: {{ttl_s: {v}}}}}",
            "measurement: {{baseline: {{duration_s: {v}}}}}",
            "measurement: {{settle: {{timeout_s: {v}}}}}",
            "measurement: {{sample_hz: {v}}}",
            "measurement: {{warmup: {{cv_threshold: {v}}}}}",
        ]
    )
    value = rng.choice([".inf", ".Inf", "-.inf", ".nan", ".NaN", "1.0e+400", '"inf"', '"nan"', "1.0e+300"])
    return HEAD + STUB + field.format(v=value) + "\n"


def _garbage_bytes(rng: random.Random) -> bytes:
    kind = rng.choice(["binary", "latin1", "surrogate", "utf16"])
    if kind == "binary":
        return bytes(rng.randrange(256) for _ in range(rng.randint(16, 4096))) + b"\0"
    if kind == "latin1":
        return (HEAD + STUB + "description: caf\xe9\n").encode("latin-1")
    if kind == "surrogate":  # an unpaired surrogate, as a careless encoder writes it
        return (HEAD + STUB + "description: x\ud800y\n").encode("utf-8", "surrogatepass")
    return (HEAD + STUB).encode("utf-16")


def _control_characters(rng: random.Random) -> str:
    char = chr(rng.choice([0x01, 0x07, 0x1B, 0x7F, 0xFFFE]))
    return HEAD + STUB + f"description: a{char}b\n"


def _big_text(rng: random.Random) -> str:
    filler = "# " + "x" * 1000 + "\n"
    return HEAD + STUB + filler * rng.randint(1100, 1500)  # just over the 1 MiB cap


TEXT_FAMILIES: dict[str, Callable[[random.Random], str]] = {
    "billion_laughs": _billion_laughs,
    "self_alias": _self_alias,
    "deep_nesting": _deep_nesting,
    "explicit_tag": _explicit_tag,
    "huge_grid": _huge_grid,
    "absurd_number": _absurd_number,
    "wrong_param": _wrong_param,
    "all_rejected": _all_rejected,
    "duplicate_key": _duplicate_key,
    "not_finite": _not_finite,
    "control_characters": _control_characters,
    "big_text": _big_text,
}
SPECIALS = ("fifo", "dev_zero", "sparse", "directory")


def corpus(seed: int, per_family: int) -> Iterator[Case]:
    """``per_family`` cases of every text family, a few of garbage bytes, and each special file."""
    rng = random.Random(seed)
    for family, make in TEXT_FAMILIES.items():
        for index in range(per_family):
            yield Case(family, f"{family}-{index}", text=make(rng))
    for index in range(per_family):
        yield Case("garbage_bytes", f"garbage_bytes-{index}", data=_garbage_bytes(rng))
    for special in SPECIALS:
        yield Case(special, special, special=special)
