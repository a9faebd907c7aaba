"""The campaign file typed by the backend registry: each backend's section by its parameter model.

``typed_campaign`` derives from the plain campaign model a subclass in which ``backends`` has one
field per registered backend, whose ``params`` take that backend's parameters (their types and
bounds, each optional) and whose ``grid`` takes lists of them (and of workload fields, as
``workload.X``); the shared ``grid`` takes any backend's. So an unknown key or a value of the
wrong type is a problem of the file, found on load with its line and a did-you-mean, and the
same model is the JSON Schema ``camp schema`` prints. Each value is checked as its parameter
model checks that one field — its type, its bounds, its allowed values and the field's own
validators (``kv_cache_dtype`` one vLLM accepts) — so a typo in a value is an error of the file,
never a grid point silently rejected. Cross-field rules (``flash_attention_2`` needs half
precision) are the parameter models' own, applied per point at expansion: a point that breaks
one is a rejection, not an error.

The typed fields validate, then keep what the file says (``dict``s in the file's order), so a
``Campaign`` reads, dumps and hashes the same whichever backends are registered.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError, PydanticUndefined, ValidationError, to_jsonable_python

from camp_contract.backends import BackendEntry
from camp_contract.models import Workload
from orchestrator.config_errors import split_choices

WORKLOAD_PREFIX = "workload."


class KeyedModel(BaseModel):
    """A mapping whose keys are this model's fields: an unknown one is reported as an unknown
    ``config_noun`` with a did-you-mean (orchestrator/config_errors.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    config_noun: ClassVar[str] = "field"


class _Backends(KeyedModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, json_schema_extra={"minProperties": 1}
    )
    config_noun: ClassVar[str] = "backend"


def _hide_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # "not given" is no value an editor should offer


def _checked_then_as_given(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate against the typed model, then keep the mapping as written (in the file's order)."""
    handler(value)
    return dict(value)


def _sections_as_given(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    typed = handler(value)
    if not value:
        raise ValueError("list at least one backend")
    return {name: getattr(typed, name) for name in value}


def _as_written(value: Any) -> Any:
    return value


def _sections_dumped(sections: dict[str, BaseModel]) -> dict[str, Any]:
    return {name: section.model_dump(mode="json") for name, section in sections.items()}


def _kept_as_written(model: type[BaseModel]) -> Any:
    """A mapping validated by ``model``, then kept as the file wrote it (its keys' order, its values)."""
    return Annotated[model, WrapValidator(_checked_then_as_given), PlainSerializer(_as_written)]


def _sections_by_backend(model: type[BaseModel]) -> Any:
    """The backends' sections, each validated by its backend's model, in the file's order."""
    return Annotated[model, WrapValidator(_sections_as_given), PlainSerializer(_sections_dumped)]


def _declared_type(field: FieldInfo) -> Any:
    """The field's type with its bounds (``ge=1``, a Literal's choices): what the schema shows."""
    return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


def field_value_errors(model: type[BaseModel], name: str, value: Any) -> list[Any]:
    """What ``model`` says of ``value`` for its field ``name`` alone: type, bounds, allowed values
    and the field's validators, not the rules across fields (those are checked per grid point)."""
    try:
        model.__pydantic_validator__.validate_assignment(model.model_construct(), name, value)
    except ValidationError as err:
        return [e for e in err.errors(include_url=False) if e["loc"][:1] == (name,)]
    except Exception:  # a cross-field rule reading a field the blank instance lacks: not this field's
        return []
    return []


def _as_error(details: Any) -> Exception:
    """A field's error raised again from a validator of the campaign, keeping its type and context
    (a ``literal_error`` keeps its ``expected`` choices, for the did-you-mean)."""
    if details["type"] == "value_error":
        return ValueError(details["msg"].removeprefix("Value error, "))
    context = {k: v for k, v in (details.get("ctx") or {}).items() if isinstance(v, str | int | float)}
    return PydanticCustomError(details["type"], details["msg"], context)


def _merged(errors: list[Any]) -> Any:
    """One error for a value no taker accepts: where each only lists its allowed values, one
    listing them all (so the did-you-mean looks among every backend's), else the first."""
    if len(errors) > 1 and all(e["type"] == "literal_error" for e in errors):
        choices = [c for e in errors for c in split_choices(e["ctx"]["expected"])]
        expected = ", ".join(repr(c) for c in dict.fromkeys(choices))
        return {
            "type": "literal_error",
            "msg": f"Input should be one of {expected}",
            "ctx": {"expected": expected},
        }
    return errors[0]


def _checked_by(takers: tuple[tuple[type[BaseModel], str], ...]) -> WrapValidator:
    """Accept a value that one of ``takers`` (a parameter model and its field) accepts."""

    def check(value: Any, _: ValidatorFunctionWrapHandler) -> Any:
        errors = []
        for model, name in takers:
            found = field_value_errors(model, name, value)
            if not found:
                return value
            errors.append(found[0])
        raise _as_error(_merged(errors))

    return WrapValidator(check)


def _value_type(model: type[BaseModel], name: str) -> Any:
    """What one value of the field may be, as the schema shows it, checked by ``model`` itself."""
    return Annotated[_declared_type(model.model_fields[name]), _checked_by(((model, name),))]


def _non_empty(values: list[Any]) -> list[Any]:
    if not values:
        raise ValueError("a grid axis needs at least one value")
    return values


def _axis(value_type: Any, key: str) -> tuple[Any, Any]:
    axis = Annotated[list[value_type], AfterValidator(_non_empty)]
    return axis, Field(default=None, alias=key, json_schema_extra=_axis_schema)


def _axis_schema(schema: dict[str, Any]) -> None:
    _hide_default(schema)
    schema["minItems"] = 1


def _shown_default(field: FieldInfo) -> dict[str, Any]:
    default = field.get_default(call_default_factory=True)
    return {} if default is PydanticUndefined else {"default": to_jsonable_python(default)}


def _params_model(entry: BackendEntry) -> type[KeyedModel]:
    """The backend's parameters as a section gives them: each optional, typed and bounded."""
    fields: dict[str, Any] = {
        name: (
            _value_type(entry.params, name),
            Field(default=None, description=field.description, json_schema_extra=_shown_default(field)),
        )
        for name, field in entry.params.model_fields.items()
    }
    model: type[KeyedModel] = create_model(
        f"{_title(entry)}SectionParams",
        __base__=KeyedModel,
        __doc__=_doc(entry),
        **fields,
    )
    model.config_noun = f"{entry.name} parameter"
    return model


def _workload_axes() -> dict[str, tuple[Any, Any]]:
    return {
        f"workload__{name}": _axis(_value_type(Workload, name), WORKLOAD_PREFIX + name)
        for name in Workload.model_fields
    }


def _grid_model(name: str, axes: dict[str, tuple[Any, Any]], noun: str) -> type[KeyedModel]:
    fields: dict[str, Any] = {**axes, **_workload_axes()}
    model: type[KeyedModel] = create_model(
        name,
        __base__=KeyedModel,
        __doc__="Axes to sweep: each key a list of values (a single value is a one-point axis).",
        **fields,
    )
    model.config_noun = noun
    return model


def _doc(entry: BackendEntry) -> str | None:
    return inspect.cleandoc(entry.params.__doc__) if entry.params.__doc__ else None


def _title(entry: BackendEntry) -> str:
    return entry.params.__name__.removesuffix("Params") or entry.name.capitalize()


def _section_model(entry: BackendEntry, section_base: type[BaseModel]) -> type[BaseModel]:
    params = _params_model(entry)
    axes = {name: _axis(_value_type(entry.params, name), name) for name in entry.params.model_fields}
    grid = _grid_model(f"{_title(entry)}Grid", axes, f"{entry.name} parameter")
    section: type[BaseModel] = create_model(
        f"{_title(entry)}Section",
        __base__=section_base,
        __doc__=f"The {entry.name} backend's part of the campaign.",
        params=(_kept_as_written(params), Field(default_factory=dict)),
        grid=(_kept_as_written(grid), Field(default_factory=dict)),
    )
    return section


def _shared_grid_model(entries: Iterable[BackendEntry]) -> type[KeyedModel]:
    """Keys any registered backend takes, each value one that a backend taking it accepts (shown
    as any of the types those backends give it)."""
    by_key: dict[str, list[Any]] = {}
    takers: dict[str, list[tuple[type[BaseModel], str]]] = {}
    for entry in entries:
        for name, field in entry.params.model_fields.items():
            kinds = by_key.setdefault(name, [])
            takers.setdefault(name, []).append((entry.params, name))
            value_type = _declared_type(field)
            if not any(_same_type(value_type, known) for known in kinds):
                kinds.append(value_type)
    axes = {
        name: _axis(Annotated[_one_type(kinds), _checked_by(tuple(takers[name]))], name)
        for name, kinds in by_key.items()
    }
    return _grid_model("SharedGrid", axes, "grid axis")


def _one_type(kinds: list[Any]) -> Any:
    return kinds[0] if len(kinds) == 1 else Union[tuple(kinds)]  # noqa: UP007


def _same_type(a: Any, b: Any) -> bool:
    return TypeAdapter(a).json_schema() == TypeAdapter(b).json_schema()


def _description(model: type[BaseModel], name: str) -> str | None:
    field = model.model_fields.get(name)
    return field.description if field is not None else None


@functools.lru_cache(maxsize=8)
def typed_campaign(
    campaign: type[BaseModel], section_base: type[BaseModel], entries: tuple[BackendEntry, ...]
) -> Any:
    """``campaign`` with ``backends`` and ``grid`` typed by ``entries`` (see the module docstring)."""
    sections: dict[str, Any] = {
        entry.name: (
            _section_model(entry, section_base),
            Field(default=None, description=_doc(entry), json_schema_extra=_hide_default),
        )
        for entry in entries
    }
    backends: type[KeyedModel] = create_model(
        "Backends",
        __base__=_Backends,
        __doc__="The backends to run, each with its own grid, params and models.",
        **sections,
    )
    return create_model(
        campaign.__name__,
        __base__=campaign,
        __doc__=campaign.__doc__,
        backends=(_sections_by_backend(backends), Field(description=_description(campaign, "backends"))),
        grid=(
            _kept_as_written(_shared_grid_model(entries)),
            Field(default_factory=dict, description=_description(campaign, "grid")),
        ),
    )
