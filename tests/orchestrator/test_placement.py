"""Placement: the local GPU pool's leases, and the runner driven by a placement that grants its
leases later, as a cluster scheduler does."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orchestrator.campaign import parse_campaign
from orchestrator.executors import Demand, Lease
from orchestrator.executors.gpu_pool import LocalGpuPool
from orchestrator.manifest import Manifest
from orchestrator.runner import CampaignRunner
from tests.orchestrator.fakes import FakeExecutor


def demand(gpus: int = 1, exp_id: str = "e1") -> Demand:
    return Demand(campaign="t", exp_id=exp_id, cycle=0, backend="stub", gpus=gpus, timeout_s=60)


def test_the_pool_leases_free_gpus_in_listed_order_and_takes_them_back() -> None:
    pool = LocalGpuPool(["0", "1", "2"])
    assert pool.slots == 3 and pool.describe() == ", up to 3 at a time on GPUs 0,1,2"
    first = pool.acquire(demand())
    pair = pool.acquire(demand(2))
    assert first == Lease(gpus=("0",)) and pair == Lease(gpus=("1", "2"))
    assert pool.acquire(demand()) is None  # all taken: not now
    assert pair is not None and first is not None
    pool.release(pair)
    assert pool.acquire(demand(2)) == Lease(gpus=("1", "2"))
    pool.release(first)
    assert pool.acquire(demand()) == Lease(gpus=("0",))


def test_the_pool_refuses_a_run_needing_more_gpus_than_listed() -> None:
    pool = LocalGpuPool(["0", "1"])
    assert pool.refuse(demand(2)) is None
    assert pool.refuse(demand(4)) == "needs 4 GPUs; the campaign lists 2 (gpus)"


def test_with_no_gpus_listed_one_run_at_a_time_on_the_default_devices() -> None:
    pool = LocalGpuPool([])
    assert pool.slots == 1 and pool.describe() == "" and pool.refuse(demand(8)) is None
    lease = pool.acquire(demand(8))
    assert lease == Lease() and lease.is_here
    assert pool.acquire(demand()) is None
    pool.release(lease)
    assert pool.acquire(demand()) == Lease()


@dataclass
class LateScheduler:
    """A placement that grants each run's lease only the third time it is asked, elsewhere
    (through a launcher, with a job id), and refuses what no node could hold."""

    name: str = "late scheduler"
    slots: int = 2
    poll_s: float | None = 0.01
    asked: Counter[tuple[str, int]] = field(default_factory=Counter)
    granted: list[Lease] = field(default_factory=list)
    released: list[Lease] = field(default_factory=list)
    closed: bool = False

    def describe(self) -> str:
        return ", on the late scheduler"

    def refuse(self, demand: Demand) -> str | None:
        return f"no node has {demand.gpus} GPUs" if demand.gpus > 4 else None

    def acquire(self, demand: Demand) -> Lease | None:
        self.asked[(demand.exp_id, demand.cycle)] += 1
        if self.asked[(demand.exp_id, demand.cycle)] < 3:
            return None
        job = str(100 + len(self.granted))
        lease = Lease(gpus=(f"GPU-{job}",), env={"SLURM_JOB_ID": job}, launcher=("srun", f"--jobid={job}"))
        self.granted.append(lease)
        return lease

    def release(self, lease: Lease) -> None:
        self.released.append(lease)

    def close(self) -> None:
        self.closed = True


CAMPAIGN = """
name: t
models: [m]
backends:
  stub: {grid: {batch_size: [1, 2]}}
  vllm: {grid: {tensor_parallel_size: [8]}}
cycles: 1
retries: 0
"""


def test_runs_wait_for_leases_granted_later_and_start_with_them(tmp_path: Path) -> None:
    runtime = FakeExecutor()
    placement = LateScheduler()
    messages: list[str] = []
    campaign = parse_campaign(CAMPAIGN, Path("c.yaml"))
    CampaignRunner(campaign, tmp_path, runtime, messages.append, placement=placement).run()
    with Manifest.open_readonly(tmp_path / "t") as manifest:
        counts = manifest.counts()
        (refused,) = manifest.runs(states=("failed",))
    assert counts["done"] == 2
    assert refused.error == "no node has 8 GPUs"
    assert all(count == 3 for count in placement.asked.values())
    leases = {lease.gpus: lease for lease in placement.granted}
    assert len(runtime.requests) == 2
    for request in runtime.requests:  # each run started with exactly its own lease
        lease = leases[request.gpus]
        assert (dict(request.env), request.launcher) == (dict(lease.env), lease.launcher)
    assert sorted(placement.released, key=str) == sorted(placement.granted, key=str)
    assert placement.closed
    assert any("with executor 'fake', on the late scheduler" in m for m in messages)


@dataclass
class NeverGrants(LateScheduler):
    poll_s: float | None = None

    def acquire(self, demand: Demand) -> Lease | None:
        return None


def test_a_placement_that_can_never_make_room_is_an_error_not_a_hang(tmp_path: Path) -> None:
    campaign = parse_campaign(CAMPAIGN, Path("c.yaml"))
    runner = CampaignRunner(campaign, tmp_path, FakeExecutor(), lambda _: None, placement=NeverGrants())
    with pytest.raises(RuntimeError, match="granted no lease with no run in flight"):
        runner.run()
