"""``site.yaml``: what the slurm executor needs to know about a cluster, kept apart from the
campaign so that one campaign file runs on any site.

Checked like a campaign file: every problem at once, each with its line, the field and the fix
(a did-you-mean for a misspelt key or choice).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.config_errors import (
    ConfigError,
    ConfigProblem,
    load_yaml_with_lines,
    problems_from_validation,
)

SiteRuntime = Literal["docker", "apptainer", "process"]


class SlurmSite(BaseModel):
    """One cluster: where jobs go and how a run starts on a node."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partition: str | None = None  # None: the cluster's default partition
    account: str | None = None
    qos: str | None = None
    gpu_type: str | None = None  # the gres type (`--gres=gpu:<type>:<n>`), e.g. a100; None: any
    request_gpus: bool = True  # false only on a CPU-only test cluster (CI): no `--gres=gpu`
    time_limit_min: int | None = Field(default=None, ge=1)  # None: the campaign's timeout_s + a margin
    # A neighbour's job on the same GPU board ruins an energy measurement: whole nodes by default.
    exclusive: bool = True
    runtime: SiteRuntime = "docker"  # how a run starts on a node
    images: dict[str, Path] = Field(default_factory=dict)  # apptainer: backend → its .sif
    shared_storage: Path | None = None  # the results directory must lie under it (None: not checked)
    python: str | None = None  # the Python on the nodes with camp installed; None: this one
    cpus_per_task: int = Field(default=1, ge=1)
    mem: str | None = None  # per job (`--mem`, e.g. 32G); None: the partition's default
    poll_s: float = Field(default=2.0, gt=0)  # how often job states are asked
    setup: list[str] = Field(default_factory=list)  # shell lines run in the job first (module load …)


def parse_site(text: str, source: Path) -> SlurmSite:
    data, lines = load_yaml_with_lines(text, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigProblem((), "a site file is a mapping (partition:, runtime:, …)")])
    try:
        site = SlurmSite.model_validate(data)
    except ValidationError as err:
        raise ConfigError(source, problems_from_validation(err, SlurmSite), lines, kind="site") from None
    problems = []
    if site.runtime == "apptainer" and not site.images:
        problems.append(
            ConfigProblem(
                ("images",), "runtime apptainer needs a .sif per backend", "e.g. vllm: /shared/camp-vllm.sif"
            )
        )
    if site.runtime != "apptainer" and site.images:
        problems.append(
            ConfigProblem(("images",), f"is only used by runtime apptainer, not {site.runtime}", "remove it")
        )
    if problems:
        raise ConfigError(source, problems, lines, kind="site")
    return site


def load_site(path: Path) -> SlurmSite:
    """Read and validate a site file (see ``parse_site``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(
            path, [ConfigProblem((), f"cannot read the site file: {err.strerror or err}")], kind="site"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(path, [ConfigProblem((), "the file is not UTF-8 text")], kind="site") from None
    return parse_site(text, path)
