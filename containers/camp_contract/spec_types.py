"""Each registered backend's own spec type, and the spec as their union discriminated on
``backend``: what ``RunSpec(...)`` and ``RunSpec.model_validate*`` build, and the JSON Schema
``RunSpec.model_json_schema()`` gives (``camp_contract.models``).

A backend's spec type is ``RunSpec`` with ``backend`` fixed to its name and ``params`` typed by
its parameter model, made once per registry entry; the union is remade when a plugin registers
a backend.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, ValidationError, create_model
from pydantic_core import PydanticCustomError

from camp_contract.backends import BackendEntry, UnknownBackend, backend_entries, backend_entry
from camp_contract.models import RunSpec


def spec_type(name: str) -> type[RunSpec]:
    """Backend ``name``'s own spec type: RunSpec with ``backend`` fixed and ``params`` typed."""
    return _spec_type(backend_entry(name))


@functools.cache
def _spec_type(entry: BackendEntry) -> type[RunSpec]:
    title = entry.params.__name__.removesuffix("Params") or entry.name
    spec: type[RunSpec] = create_model(
        f"{title}RunSpec",
        __base__=RunSpec,
        __module__=__name__,
        __doc__=f"A run of the {entry.name} backend.",
        backend=(Literal[entry.name], ...),  # type: ignore[arg-type]
        params=(entry.params, Field(default_factory=entry.params)),
    )
    return spec


@functools.cache
def _spec_adapter(entry: BackendEntry) -> TypeAdapter[RunSpec]:
    return TypeAdapter(_spec_type(entry))


@functools.lru_cache(maxsize=8)
def _spec_union(entries: tuple[BackendEntry, ...]) -> TypeAdapter[RunSpec]:
    members = tuple(_spec_type(entry) for entry in entries)
    union: Any = Annotated[Union[members], Field(discriminator="backend")]  # noqa: UP007
    return TypeAdapter(union)


def validate_spec(data: Any) -> RunSpec:
    """``data`` as its backend's spec type. Its ValidationError locates each problem in the spec
    (``params.batch_size``); without a backend to validate it as (none, or one not registered),
    it lists the problems of the fields every spec has, the backend's among them."""
    entries = backend_entries()
    names = [entry.name for entry in entries]
    backend = data.get("backend") if isinstance(data, Mapping) else None
    errors: list[Any] = []
    if isinstance(backend, str) and backend in names:
        # What the union's discriminator would pick, without building every other backend's type
        # (a run validates one spec: the others' models are never built in its container).
        try:
            return _spec_adapter(entries[names.index(backend)]).validate_python(data)
        except ValidationError as err:  # named as the spec, as every other spec error is
            errors = [_line_error(e) for e in err.errors(include_url=False)]
            raise ValidationError.from_exception_data("RunSpec", errors) from None
    try:
        _AnyBackendSpec.model_validate(data)
    except ValidationError as err:
        errors = [_line_error(e) for e in err.errors(include_url=False)]
    if isinstance(backend, str):
        unknown = str(UnknownBackend(backend, names))
        errors.append(
            {"type": PydanticCustomError("unknown_backend", unknown), "loc": ("backend",), "input": backend}
        )
    order = list(RunSpec.model_fields)
    errors.sort(key=lambda e: order.index(e["loc"][0]) if e["loc"] and e["loc"][0] in order else -1)
    raise ValidationError.from_exception_data("RunSpec", errors)


# A spec of no backend in particular: what is wrong with its other fields.
_AnyBackendSpec: type[RunSpec] = create_model(
    "RunSpec", __base__=RunSpec, __module__=__name__, params=(dict[str, Any], Field(default_factory=dict))
)


def _line_error(error: Any, loc: tuple[Any, ...] | None = None) -> dict[str, Any]:
    return {
        "type": error["type"],
        "loc": error["loc"] if loc is None else loc,
        "input": error["input"],
        **({"ctx": error["ctx"]} if "ctx" in error else {}),
    }


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of spec.json: one spec type per registered backend, discriminated on
    ``backend``."""
    return _spec_union(backend_entries()).json_schema()
