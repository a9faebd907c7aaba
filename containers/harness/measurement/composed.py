"""A run's GPU source with the extra sources metered beside it, as one ``PowerSource``.

Everything a run asks of its source — the devices, the baseline's kind, the busy level, other
processes, the snapshot — is the GPU source's, so the headline figure is measured exactly as
with that source alone. Each ``read()`` takes the GPU source's reading (its timestamp, then the
GPUs) and then each extra source's devices, under ``Reading.extra``: one trace, one clock, one
sampler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from harness.measurement.power import DeviceInfo, PowerSource, Reading


class ComposedSource:
    def __init__(self, gpu_name: str, gpu: PowerSource, extras: Mapping[str, PowerSource]):
        self.kind = gpu.kind
        self.gpu_name = gpu_name
        self.gpu = gpu
        self.extras = dict(extras)

    def devices(self) -> list[DeviceInfo]:
        return self.gpu.devices()

    def device_ids(self) -> dict[str, list[str]]:
        """Every source's device ids by source name, the GPU source first."""
        return {
            self.gpu_name: [d.uuid for d in self.gpu.devices()],
            **{name: [d.uuid for d in source.devices()] for name, source in self.extras.items()},
        }

    def read(self) -> Reading:
        head = self.gpu.read()
        if not self.extras:
            return head
        return Reading(head.t_s, head.devices, {name: s.read().devices for name, s in self.extras.items()})

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for source in (self.gpu, *self.extras.values()):
                stack.enter_context(source.busy())
            yield

    def other_processes(self) -> dict[str, int]:
        return self.gpu.other_processes()

    def describe(self) -> list[dict[str, Any]]:
        return self.gpu.describe()

    def describe_extras(self) -> dict[str, list[dict[str, Any]]]:
        """Each extra source's per-device facts, for the environment snapshot."""
        return {name: source.describe() for name, source in self.extras.items()}

    def driver(self) -> dict[str, Any]:
        return self.gpu.driver()

    def close(self) -> None:
        with contextlib.ExitStack() as stack:  # every source is closed, whichever raises
            for source in (self.gpu, *self.extras.values()):
                stack.callback(source.close)
