"""Opening the power sources a run's measurement settings name, from the registry
(``camp_contract.power_sources``): the one place an entry's factory is imported and called, and
where any failure to open becomes one line naming the source and why
(``RAPL power source unavailable: …``).

A source named in the settings is required: where it cannot be opened, the run fails in
preflight with that line (every source's problem at once), rather than measure without it.
"""

from __future__ import annotations

import importlib
from collections.abc import MutableMapping

from camp_contract.models import MeasurementSettings
from camp_contract.power_sources import POWER_SOURCES
from harness.measurement.composed import ComposedSource
from harness.measurement.power import PowerSource, SourceUnavailable


class SourcesUnavailable(SourceUnavailable):
    """Some of a run's sources cannot be opened: one line per source, in ``problems``."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def open_source(name: str, environ: MutableMapping[str, str]) -> PowerSource:
    """The registered source ``name``, opened by its factory with ``environ``."""
    entry = POWER_SOURCES.get(name)
    if entry is None:
        raise SourceUnavailable(f"unknown power source {name!r} (known: {', '.join(sorted(POWER_SOURCES))})")
    module, _, function = entry.factory.partition(":")
    try:
        factory = getattr(importlib.import_module(module), function)
        source: PowerSource = factory(environ)
    except Exception as err:  # no driver, no device, no permission, a bad device list: one reason
        raise SourceUnavailable(
            f"{entry.title} power source unavailable: {err or type(err).__name__}"
        ) from err
    return source


def open_sources(settings: MeasurementSettings, environ: MutableMapping[str, str]) -> ComposedSource:
    """The GPU source and every extra source, composed; every one that cannot be opened is
    named in the error (and those that could are closed again)."""
    opened: dict[str, PowerSource] = {}
    problems: list[str] = []
    for name in (settings.power_source, *settings.extra_power_sources):
        try:
            opened[name] = open_source(name, environ)
        except SourceUnavailable as err:
            problems.append(str(err))
    if problems:
        for source in opened.values():
            source.close()
        raise SourcesUnavailable(problems)
    gpu = opened.pop(settings.power_source)
    return ComposedSource(settings.power_source, gpu, opened)
