"""`camp doctor --executor slurm` against the real one-node Slurm (scripts/provision-slurm.sh):
every check passes on the provisioned site, a wrong partition and a results directory the job
cannot see are named, and the probe job leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.doctor_slurm import probe_script, run_slurm_checks, sbatch_command
from orchestrator.executors.slurm_site import SlurmSite, parse_site
from tests.integration.conftest import REPO, camp

SITE = REPO / "campaigns" / "sites" / "one-node.yaml"


def test_the_probe_script_checks_what_each_runtime_needs(tmp_path: Path) -> None:
    token = tmp_path / "token"
    docker = probe_script(SlurmSite(runtime="docker"), token)
    assert "docker info" in docker and "label=camp.image" in docker and str(token) in docker
    sif = probe_script(SlurmSite(runtime="apptainer", images={"vllm": Path("/shared/camp vllm.sif")}), token)
    assert "apptainer --version" in sif and "test -r '/shared/camp vllm.sif'" in sif
    process = probe_script(SlurmSite(runtime="process", python="/opt/camp/bin/python"), token)
    assert "/opt/camp/bin/python -c 'import harness, camp_contract" in process
    command = sbatch_command(SlurmSite(partition="gpu", account="lab", qos="short", mem="1G"), tmp_path / "o")
    assert {"--partition=gpu", "--account=lab", "--qos=short", "--mem=1G"} <= set(command)


@pytest.mark.slurm
def test_doctor_passes_on_the_provisioned_site_and_cleans_up(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = camp("doctor", "--executor", "slurm", "--site", str(SITE), "--results-dir", str(results))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0].split(maxsplit=1)[1] for line in lines] == [
        "slurm commands",
        "partition",
        "a job on a node (docker runtime, results visible)",
    ]
    assert all(line.startswith("OK") for line in lines)
    assert list(results.iterdir()) == []  # token and job output removed


@pytest.mark.slurm
def test_doctor_names_a_missing_partition_and_unshared_results(tmp_path: Path) -> None:
    wrong = parse_site("partition: nope\nrequest_gpus: false\n", tmp_path / "site.yaml")
    (partition,) = [c for c in run_slurm_checks(wrong, tmp_path) if c.name == "partition"]
    assert partition.level == "fail" and "no partition 'nope'" in partition.detail
    elsewhere = parse_site(SITE.read_text() + f"shared_storage: {tmp_path / 'shared'}\n", SITE)
    (shared,) = [c for c in run_slurm_checks(elsewhere, tmp_path / "local") if c.name == "shared storage"]
    assert shared.level == "fail" and "is not under the shared storage" in shared.detail
