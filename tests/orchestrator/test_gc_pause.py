"""The collector pause around bulk building: back as it was afterwards, whatever happened."""

from __future__ import annotations

import gc

import pytest

from orchestrator.gc_pause import gc_paused


def test_the_collector_is_paused_inside_and_back_on_after_even_on_an_error() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        kept = [[i] for i in range(1000)]  # what the block builds survives it
    assert gc.isenabled() and len(kept) == 1000
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_switched_off_by_the_caller_stays_off_and_frozen_objects_stay_frozen() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused():
            pass
        assert gc.get_freeze_count() == frozen  # someone else's frozen objects are left alone
    finally:
        gc.unfreeze()
